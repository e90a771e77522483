package cri

import (
	"context"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListPodSandbox implements CRI ListPodSandbox, with every filter: ID (a
// full ID or a unique prefix), state and label selector.
func (s *Server) ListPodSandbox(ctx context.Context, r *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return &runtimeapi.ListPodSandboxResponse{Items: s.listPodSandbox(r.GetFilter())}, nil
}

func (s *Server) listPodSandbox(f *runtimeapi.PodSandboxFilter) []*runtimeapi.PodSandbox {
	var out []*runtimeapi.PodSandbox
	for _, p := range s.store.Pods() {
		if f.GetId() != "" && !strings.HasPrefix(p.ID, f.GetId()) {
			continue
		}
		state := podState(&p)
		if f.GetState() != nil && f.GetState().GetState() != state {
			continue
		}
		if !matchLabels(f.GetLabelSelector(), p.Labels) {
			continue
		}
		out = append(out, &runtimeapi.PodSandbox{
			Id:             p.ID,
			Metadata:       podMetadata(&p),
			State:          state,
			CreatedAt:      p.CreatedAt,
			Labels:         p.Labels,
			Annotations:    p.Annotations,
			RuntimeHandler: p.RuntimeHandler,
		})
	}
	return out
}
