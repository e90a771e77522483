package cri

import (
	"sync"
	"time"

	"github.com/runsc-cri/runsc-cri/cri/cgroups"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Host cgroups (cri/cgroups): every pod's host processes go into one cgroup,
// <cgroup_parent>/runsc-<pod id> (systemd slice parents expanded into cgroupfs
// directories; no D-Bus), or runsc-cri/runsc-<pod id> under the daemon's own cgroup
// when the kubelet gives no parent. It is made before the sentry starts, the sentry
// (and any child it forked) moved in before the pod is Ready, so before any container
// runs. Placing it is best effort: a host where no controller is writable runs the
// pod without one (logged). The store keeps the path; after a daemon restart it is
// reopened from there. Container-level CPU limits are not separable (all containers
// share one sentry): the pod's limits come from the pod's resources only.

// podSentryOverhead is added to a pod's memory bound for the host memory limit: the
// sentry's own heap, page tables and the stubs, on top of its memory file.
const podSentryOverhead = 256 << 20

// podPidsMax bounds the pod's host tasks: sentry threads, gofers and one ptrace stub
// per address space.
const podPidsMax = 32768

var (
	cgroupOnce sync.Once
	cgroupHier *cgroups.Hierarchy
)

// cgroupHierarchy is the host's, or nil when there is none.
func (s *Server) cgroupHierarchy() *cgroups.Hierarchy {
	cgroupOnce.Do(func() {
		h, err := cgroups.Detect("", nil)
		if err != nil {
			s.log.Warn("host cgroups unavailable; pods run in the daemon's cgroup", "err", err)
			return
		}
		cgroupHier = h
	})
	return cgroupHier
}

// podLimits converts CRI resources into host limits.
func podLimits(res *runtimeapi.LinuxContainerResources) cgroups.Limits {
	var l cgroups.Limits
	if res == nil {
		l.Pids = podPidsMax
		return l
	}
	l.CPUQuota, l.CPUPeriod = res.CpuQuota, res.CpuPeriod
	if res.CpuShares > 0 {
		l.CPUShares = uint64(res.CpuShares)
	}
	if res.MemoryLimitInBytes > 0 {
		l.MemoryBytes = res.MemoryLimitInBytes + podSentryOverhead
	}
	l.Pids = podPidsMax
	return l
}

// createPodCgroup makes the pod's cgroup (nil, nil when the host has none usable).
func (s *Server) createPodCgroup(id string, cfg *runtimeapi.PodSandboxConfig) (*cgroups.Cgroup, error) {
	h := s.cgroupHierarchy()
	if h == nil {
		return nil, nil
	}
	path, err := cgroups.PodPath(cfg.GetLinux().GetCgroupParent(), id)
	if err != nil {
		return nil, err
	}
	cg, err := h.Create(path)
	if err != nil {
		s.log.Warn("pod cgroup not created; the pod runs in the daemon's cgroup", "pod", id, "err", err)
		return nil, nil
	}
	if err := cg.Set(podLimits(cfg.GetLinux().GetResources())); err != nil {
		if cfg.GetLinux().GetCgroupParent() != "" {
			cg.Remove(time.Second)
			return nil, err
		}
		// Our own default place (e.g. v2 controllers not delegated to the
		// daemon's cgroup): the pod runs there without host limits.
		s.log.Warn("pod cgroup limits not written", "pod", id, "err", err)
	}
	return cg, nil
}

// podCgroup reopens a pod's recorded cgroup (nil when it has none).
func (s *Server) podCgroup(path string) *cgroups.Cgroup {
	h := s.cgroupHierarchy()
	if h == nil || path == "" {
		return nil
	}
	return h.Open(path)
}

// PodCgroupAdd moves pid (e.g. a container's gofer) into pod's cgroup, if it has one.
func (s *Server) podCgroupAdd(podID string, pid int) error {
	p, err := s.store.Pod(podID)
	if err != nil {
		return err
	}
	if cg := s.podCgroup(p.Cgroup); cg != nil {
		return cg.AddPid(pid)
	}
	return nil
}

// removePodCgroup deletes the pod's cgroup once its processes are gone.
func (s *Server) removePodCgroup(id, path string) {
	if cg := s.podCgroup(path); cg != nil {
		if err := cg.Remove(5 * time.Second); err != nil {
			s.log.Warn("pod cgroup not removed", "pod", id, "err", err)
		}
	}
}
