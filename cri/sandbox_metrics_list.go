package cri

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/sandbox"
	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// ListPodSandboxMetrics implements CRI ListPodSandboxMetrics: for every
// ready pod, its pod-wide metrics and those of each running container
// (metricDefs). Where the figures come from:
//
//   - CPU, memory, processes: the sentry's own accounting (control Stats,
//     for the pod and for each container), as ContainerStats reports them.
//   - Kernel memory (pod only): the sentry process's anonymous resident
//     memory on the host (its Go heap and stacks: the pod's kernel), read
//     from /proc/PID/status.
//   - File system: the container's writable layer (its snapshot's usage)
//     and statfs of the file system holding the snapshots (size, inodes).
//   - Spec: the container's resources (configured or last updated).
//   - Start time: the container record; last seen: now.
//   - Network: the counters of each interface of the pod's stack but lo
//     (as cAdvisor), from the sentry's Stats.
//   - Zeros that are facts, not measurements: CFS periods and throttling
//     (no CPU quota is enforced on a sandbox), swap (the sandbox has none),
//     network counters with interface "" when the pod has no interface
//     but lo, network errors and drops (the pod's stack does not count
//     them), a container's page cache and mapped files (charged to the
//     pod, not to containers), major faults (the sentry counts every fault
//     as minor), threads_max (no limit; cAdvisor's 0).
//
// Block I/O is not accounted. A pod or container whose sentry does not
// answer is left out (logged at debug).
func (s *Server) ListPodSandboxMetrics(ctx context.Context, r *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	return &runtimeapi.ListPodSandboxMetricsResponse{PodMetrics: s.listPodSandboxMetrics(ctx)}, nil
}

func (s *Server) listPodSandboxMetrics(ctx context.Context) []*runtimeapi.PodSandboxMetrics {
	now := time.Now()
	layerFS := writableLayerFS(filepath.Join(s.cfg.Root, "images"))
	var out []*runtimeapi.PodSandboxMetrics
	for _, p := range s.store.Pods() {
		if p.State != store.PodReady {
			continue
		}
		pm, err := s.podMetrics(ctx, &p, now, layerFS)
		if err != nil {
			s.log.Debug("pod metrics", "pod", p.ID, "err", err)
			continue
		}
		out = append(out, pm)
	}
	return out
}

// metricSet collects metrics with one set of base label values.
type metricSet struct {
	labels []string // base label values
	out    []*runtimeapi.Metric
}

func (m *metricSet) add(name string, ts int64, v uint64, extra ...string) {
	var typ runtimeapi.MetricType
	for _, d := range metricDefs {
		if d.name == name {
			typ = d.typ
			break
		}
	}
	lv := append(append([]string(nil), m.labels...), extra...)
	m.out = append(m.out, &runtimeapi.Metric{
		Name: name, Timestamp: ts, MetricType: typ, LabelValues: lv,
		Value: &runtimeapi.UInt64Value{Value: v},
	})
}

// podMetrics are pod p's metrics.
func (s *Server) podMetrics(ctx context.Context, p *store.Pod, now time.Time, layerFS fsFacts) (*runtimeapi.PodSandboxMetrics, error) {
	var sr control.StatsResult
	if err := control.Call(p.ControlSocket, control.MethodStats, control.StatsRequest{}, nil, &sr, 5*time.Second); err != nil {
		return nil, sentryErr(err)
	}
	pod := &metricSet{labels: []string{"", p.ID, "", p.Metadata.Name, p.Metadata.Namespace, p.Metadata.Name}}
	sentryFigures(pod, &sr)
	if kmem, err := sandbox.SentryKernelMemory(p.SentryPID, p.ControlSocket); err == nil {
		pod.add("container_memory_kernel_usage", now.UnixNano(), kmem)
	}
	networkFigures(pod, &sr)
	pm := &runtimeapi.PodSandboxMetrics{PodSandboxId: p.ID, Metrics: pod.out}
	for _, c := range s.store.Containers(p.ID) {
		if c.State != store.ContainerRunning {
			continue
		}
		cm, err := s.containerMetrics(ctx, p, &c, now, layerFS)
		if err != nil {
			s.log.Debug("container metrics", "container", c.ID, "err", err)
			continue
		}
		pm.ContainerMetrics = append(pm.ContainerMetrics, cm)
	}
	return pm, nil
}

// containerMetrics are running container c's metrics.
func (s *Server) containerMetrics(ctx context.Context, p *store.Pod, c *store.Container, now time.Time, layerFS fsFacts) (*runtimeapi.ContainerMetrics, error) {
	var sr control.StatsResult
	if err := control.Call(p.ControlSocket, control.MethodStats, control.StatsRequest{ID: c.ID}, nil, &sr, 5*time.Second); err != nil {
		return nil, sentryErr(err)
	}
	ts, nowNS := sr.Timestamp, now.UnixNano()
	m := &metricSet{labels: []string{c.Metadata.Name, c.ID, c.ImageRef, c.Metadata.Name, p.Metadata.Namespace, p.Metadata.Name}}
	sentryFigures(m, &sr)
	m.add("container_memory_rss", ts, sr.MemoryBytes)
	m.add("container_memory_max_usage_bytes", ts, sr.MemoryPeakBytes)
	m.add("container_memory_failcnt", ts, sr.MemoryFailcnt)
	m.add("container_oom_events_total", ts, uint64(max(sr.OOMKills, 0)))
	for _, scope := range []string{"container", "hierarchy"} {
		m.add("container_memory_failures_total", ts, sr.PageFaults, "pgfault", scope)
		m.add("container_memory_failures_total", ts, 0, "pgmajfault", scope)
	}
	m.add("container_memory_cache", ts, 0)
	m.add("container_memory_mapped_file", ts, 0)
	// Facts rather than measurements (see ListPodSandboxMetrics).
	m.add("container_memory_swap", ts, 0)
	m.add("container_cpu_cfs_periods_total", ts, 0)
	m.add("container_cpu_cfs_throttled_periods_total", ts, 0)
	m.add("container_cpu_cfs_throttled_seconds_total", ts, 0)
	m.add("container_threads_max", ts, 0)

	m.add("container_last_seen", nowNS, uint64(now.Unix()))
	if c.StartedAt > 0 {
		m.add("container_start_time_seconds", nowNS, uint64(c.StartedAt/int64(time.Second)))
	}
	res := s.containerResources(c)
	if v := res.GetCpuPeriod(); v > 0 {
		m.add("container_spec_cpu_period", nowNS, uint64(v))
	}
	if v := res.GetCpuQuota(); v > 0 {
		m.add("container_spec_cpu_quota", nowNS, uint64(v))
	}
	if v := res.GetCpuShares(); v > 0 {
		m.add("container_spec_cpu_shares", nowNS, uint64(v))
	}
	m.add("container_spec_memory_limit_bytes", nowNS, uint64(max(res.GetMemoryLimitInBytes(), 0)))
	m.add("container_spec_memory_swap_limit_bytes", nowNS, uint64(max(res.GetMemorySwapLimitInBytes(), 0)))

	if u, err := s.images.RootfsUsage(ctx, c.RootfsKey); err == nil {
		m.add("container_fs_usage_bytes", nowNS, uint64(max(u.Size, 0)), layerFS.device)
	}
	if layerFS.ok {
		m.add("container_fs_limit_bytes", nowNS, layerFS.bytes, layerFS.device)
		m.add("container_fs_inodes_total", nowNS, layerFS.inodes, layerFS.device)
		m.add("container_fs_inodes_free", nowNS, layerFS.inodesFree, layerFS.device)
	}
	return &runtimeapi.ContainerMetrics{ContainerId: c.ID, Metrics: m.out}, nil
}

// sentryFigures adds the metrics of a control Stats result.
func sentryFigures(m *metricSet, sr *control.StatsResult) {
	ts := sr.Timestamp
	m.add("container_cpu_usage_seconds_total", ts, sr.CPUNanos/uint64(time.Second), "total")
	m.add("container_memory_usage_bytes", ts, sr.MemoryBytes)
	m.add("container_memory_working_set_bytes", ts, sr.MemoryBytes)
	m.add("container_processes", ts, uint64(max(sr.Processes, 0)))
	m.add("container_cpu_user_seconds_total", ts, sr.CPUUserNanos/uint64(time.Second))
	m.add("container_cpu_system_seconds_total", ts, sr.CPUSystemNanos/uint64(time.Second))
	m.add("container_threads", ts, uint64(max(sr.Threads, 0)))
	m.add("container_file_descriptors", ts, uint64(max(sr.FileDescriptors, 0)))
	m.add("container_sockets", ts, uint64(max(sr.Sockets, 0)))
}

// networkFigures adds the counters of the pod's interfaces but lo; with
// none, zeros for the interface "" (see ListPodSandboxMetrics).
func networkFigures(m *metricSet, sr *control.StatsResult) {
	type counters struct{ rxB, rxP, txB, txP uint64 }
	var ifs []string
	byName := map[string]counters{}
	for _, ifc := range sr.Interfaces {
		if ifc.Name == "lo" {
			continue
		}
		ifs = append(ifs, ifc.Name)
		byName[ifc.Name] = counters{ifc.RxBytes, ifc.RxPackets, ifc.TxBytes, ifc.TxPackets}
	}
	if len(ifs) == 0 {
		ifs = []string{""}
	}
	ts := sr.Timestamp
	for _, name := range ifs {
		c := byName[name]
		m.add("container_network_receive_bytes_total", ts, c.rxB, name)
		m.add("container_network_receive_packets_total", ts, c.rxP, name)
		m.add("container_network_transmit_bytes_total", ts, c.txB, name)
		m.add("container_network_transmit_packets_total", ts, c.txP, name)
		for _, z := range []string{
			"container_network_receive_errors_total", "container_network_receive_packets_dropped_total",
			"container_network_transmit_errors_total", "container_network_transmit_packets_dropped_total",
		} {
			m.add(z, ts, 0, name)
		}
	}
}

// fsFacts describe the file system holding the writable layers.
type fsFacts struct {
	ok                        bool
	device                    string
	bytes, inodes, inodesFree uint64
}

// writableLayerFS statfs's dir and names its device (the source of the
// mount holding it, as /proc/self/mountinfo has it).
func writableLayerFS(dir string) fsFacts {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fsFacts{}
	}
	return fsFacts{
		ok:         true,
		device:     mountSource(dir),
		bytes:      st.Blocks * uint64(st.Bsize),
		inodes:     st.Files,
		inodesFree: st.Ffree,
	}
}

// mountSource is the source of the mount holding dir (the deepest mount
// point above it), or "" if /proc/self/mountinfo does not say.
func mountSource(dir string) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	dir = filepath.Clean(dir)
	best, src := -1, ""
	for _, line := range strings.Split(string(b), "\n") {
		// ID parent major:minor root mountpoint options... - fstype source superopts
		left, right, ok := strings.Cut(line, " - ")
		f, r := strings.Fields(left), strings.Fields(right)
		if !ok || len(f) < 5 || len(r) < 2 {
			continue
		}
		mp := strings.ReplaceAll(f[4], `\040`, " ")
		if (dir == mp || mp == "/" || strings.HasPrefix(dir, mp+"/")) && len(mp) >= best {
			best, src = len(mp), r[1]
		}
	}
	return src
}
