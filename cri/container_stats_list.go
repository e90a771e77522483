package cri

import (
	"context"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListContainerStats implements CRI ListContainerStats with its filters
// (ID, pod ID, label selector). A container whose figures cannot be had
// (its sentry is busy or gone) is left out, not an error.
func (s *Server) ListContainerStats(ctx context.Context, r *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	return &runtimeapi.ListContainerStatsResponse{Stats: s.listContainerStats(ctx, r.GetFilter())}, nil
}

func (s *Server) listContainerStats(ctx context.Context, f *runtimeapi.ContainerStatsFilter) []*runtimeapi.ContainerStats {
	var out []*runtimeapi.ContainerStats
	for _, c := range s.store.Containers("") {
		if f.GetId() != "" && !strings.HasPrefix(c.ID, f.GetId()) {
			continue
		}
		if f.GetPodSandboxId() != "" && !strings.HasPrefix(c.PodID, f.GetPodSandboxId()) {
			continue
		}
		if !matchLabels(f.GetLabelSelector(), c.Labels) {
			continue
		}
		st, err := s.containerStats(ctx, &c)
		if err != nil {
			s.log.Debug("container stats", "container", c.ID, "err", err)
			continue
		}
		out = append(out, st)
	}
	return out
}
