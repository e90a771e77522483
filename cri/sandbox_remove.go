package cri

import (
	"context"
	"errors"
	"fmt"
	"os"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemovePodSandbox implements CRI RemovePodSandbox: it stops the pod if
// needed, removes its containers and forgets it. As the CRI spec asks,
// removing a removed (or unknown) pod succeeds. The pod's network
// namespace goes with it.
func (s *Server) RemovePodSandbox(ctx context.Context, r *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	if err := s.removePodSandbox(ctx, r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func (s *Server) removePodSandbox(ctx context.Context, ref string) error {
	id, err := s.store.ResolvePod(ref)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	unlock := s.podLocks.lock(id)
	defer unlock()
	if err := s.stopPodLocked(ctx, id); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return fmt.Errorf("stopping pod sandbox %s: %w", id, err)
	}
	for _, c := range s.store.Containers(id) {
		if err := s.removeContainerLocked(ctx, c.ID); err != nil {
			return fmt.Errorf("pod sandbox %s: %w", id, err)
		}
	}
	if err := s.net.Remove(ctx, id); err != nil {
		return fmt.Errorf("pod sandbox %s: network: %w", id, err)
	}
	if p, err := s.store.Pod(id); err == nil {
		s.removePodCgroup(id, p.Cgroup)
	}
	if err := os.RemoveAll(s.podDir(id)); err != nil {
		return fmt.Errorf("pod sandbox %s: %w", id, err)
	}
	return s.store.DeletePod(id)
}
