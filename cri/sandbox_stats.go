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
		st.Linux.Process = &runtimeapi.ProcessUsage{
			Timestamp:    st.Linux.Cpu.Timestamp,
			ProcessCount: &runtimeapi.UInt64Value{Value: uint64(sr.Processes)},
		}
	}
	for _, c := range s.store.Containers(p.ID) {
		if cs, err := s.containerStats(ctx, &c); err == nil {
			st.Linux.Containers = append(st.Linux.Containers, cs)
		}
	}
	return st, nil
}
