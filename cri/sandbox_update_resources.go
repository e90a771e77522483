package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// UpdatePodSandboxResources implements CRI UpdatePodSandboxResources: it writes the pod's
// new CPU, memory and pids limits into its host cgroup (sandbox_cgroups.go). The sentry's
// memory file keeps the size it started with: a larger memory limit only raises the host
// bound. A pod without a host cgroup answers Unimplemented.
func (s *Server) UpdatePodSandboxResources(ctx context.Context, r *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	return s.updatePodSandboxResources(ctx, r)
}

func (s *Server) updatePodSandboxResources(_ context.Context, r *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	id, err := s.store.ResolvePod(r.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	unlock := s.podLocks.lock(id)
	defer unlock()
	p, err := s.store.Pod(id)
	if err != nil {
		return nil, err
	}
	cg := s.podCgroup(p.Cgroup)
	if cg == nil {
		return nil, fmt.Errorf("UpdatePodSandboxResources: pod %s has no host cgroup: %w", id, ErrUnimplemented)
	}
	if err := cg.Set(podLimits(r.GetResources())); err != nil {
		return nil, fmt.Errorf("UpdatePodSandboxResources: pod %s: %w", id, err)
	}
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}
