package cri

import (
	"context"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListPodSandboxStats implements CRI ListPodSandboxStats with its filters
// (ID, label selector). A pod whose figures cannot be had is left out.
func (s *Server) ListPodSandboxStats(ctx context.Context, r *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	return &runtimeapi.ListPodSandboxStatsResponse{Stats: s.listPodSandboxStats(ctx, r.GetFilter())}, nil
}

func (s *Server) listPodSandboxStats(ctx context.Context, f *runtimeapi.PodSandboxStatsFilter) []*runtimeapi.PodSandboxStats {
	var out []*runtimeapi.PodSandboxStats
	for _, p := range s.store.Pods() {
		if f.GetId() != "" && !strings.HasPrefix(p.ID, f.GetId()) {
			continue
		}
		if !matchLabels(f.GetLabelSelector(), p.Labels) {
			continue
		}
		st, err := s.podSandboxStats(ctx, &p)
		if err != nil {
			s.log.Debug("pod stats", "pod", p.ID, "err", err)
			continue
		}
		out = append(out, st)
	}
	return out
}
