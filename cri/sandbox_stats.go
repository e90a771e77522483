package cri

import (
	"context"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// PodSandboxStats implements CRI PodSandboxStats: the whole sentry's CPU,
// memory and process count, with each container's stats.
func (s *Server) PodSandboxStats(ctx context.Context, r *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	id, err := s.store.ResolvePod(r.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	p, err := s.store.Pod(id)
	if err != nil {
		return nil, err
	}
	st, err := s.podSandboxStats(ctx, &p)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: st}, nil
}

func (s *Server) podSandboxStats(ctx context.Context, p *store.Pod) (*runtimeapi.PodSandboxStats, error) {
	st := &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{
			Id: p.ID, Metadata: podMetadata(p), Labels: p.Labels, Annotations: p.Annotations,
		},
		Linux: &runtimeapi.LinuxPodSandboxStats{},
	}
	if p.State == store.PodReady {
		var sr control.StatsResult
		if err := control.Call(p.ControlSocket, control.MethodStats, control.StatsRequest{}, nil, &sr, 5*time.Second); err != nil {
			return nil, fmt.Errorf("stats of pod sandbox %s: %w", p.ID, sentryErr(err))
		}
		st.Linux.Cpu, st.Linux.Memory = cpuMemory(&sr)
		// The pod's host cgroup also counts its ptrace stubs and gofers: the
		// larger figure is the pod's (containers keep the sentry's accounting).
		if cg := s.podCgroup(p.Cgroup); cg != nil {
			if n, err := cg.CPUUsageNanos(); err == nil && n > st.Linux.Cpu.UsageCoreNanoSeconds.GetValue() {
				st.Linux.Cpu.UsageCoreNanoSeconds = &runtimeapi.UInt64Value{Value: n}
			}
		}
		st.Linux.Process = &runtimeapi.ProcessUsage{
			Timestamp:    st.Linux.Cpu.Timestamp,
			ProcessCount: &runtimeapi.UInt64Value{Value: uint64(sr.Processes)},
		}
		st.Linux.Network = networkUsage(&sr, st.Linux.Cpu.Timestamp)
	}
	for _, c := range s.store.Containers(p.ID) {
		if cs, err := s.containerStats(ctx, &c); err == nil {
			st.Linux.Containers = append(st.Linux.Containers, cs)
		}
	}
	return st, nil
}

// networkUsage are the pod's interfaces but lo, the first being the
// default one; nil while the pod has none. Errors stay unset: the
// sentry's interface figures have no error counts.
func networkUsage(sr *control.StatsResult, ts int64) *runtimeapi.NetworkUsage {
	var n *runtimeapi.NetworkUsage
	for _, i := range sr.Interfaces {
		if i.Name == "lo" {
			continue
		}
		u := &runtimeapi.NetworkInterfaceUsage{
			Name:    i.Name,
			RxBytes: &runtimeapi.UInt64Value{Value: i.RxBytes},
			TxBytes: &runtimeapi.UInt64Value{Value: i.TxBytes},
		}
		if n == nil {
			n = &runtimeapi.NetworkUsage{Timestamp: ts, DefaultInterface: u}
		}
		n.Interfaces = append(n.Interfaces, u)
	}
	return n
}
