package cri

import (
	"context"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListContainers implements CRI ListContainers, with every filter: ID
// and pod ID (full or a prefix), state and label selector.
func (s *Server) ListContainers(ctx context.Context, r *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return &runtimeapi.ListContainersResponse{Containers: s.listContainers(r.GetFilter())}, nil
}

func (s *Server) listContainers(f *runtimeapi.ContainerFilter) []*runtimeapi.Container {
	var out []*runtimeapi.Container
	for _, c := range s.store.Containers("") {
		if f.GetId() != "" && !strings.HasPrefix(c.ID, f.GetId()) {
			continue
		}
		if f.GetPodSandboxId() != "" && !strings.HasPrefix(c.PodID, f.GetPodSandboxId()) {
			continue
		}
		state := containerState(&c)
		if f.GetState() != nil && f.GetState().GetState() != state {
			continue
		}
		if !matchLabels(f.GetLabelSelector(), c.Labels) {
			continue
		}
		cfg := containerConfig(&c)
		img := cfg.GetImage()
		if img == nil {
			img = &runtimeapi.ImageSpec{Image: c.ImageRef}
		}
		out = append(out, &runtimeapi.Container{
			Id:           c.ID,
			PodSandboxId: c.PodID,
			Metadata:     containerMetadata(&c),
			Image:        img,
			ImageRef:     c.ImageID,
			ImageId:      c.ImageID,
			State:        state,
			CreatedAt:    c.CreatedAt,
			Labels:       c.Labels,
			Annotations:  c.Annotations,
		})
	}
	return out
}
