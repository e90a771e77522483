package cri

import (
	"context"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// StartContainer implements CRI StartContainer: it starts a created
// container's process and begins watching for its exit. Only a Created
// container in a Ready pod can start (FailedPrecondition otherwise); a
// start that fails leaves the container Exited with reason StartError.
func (s *Server) StartContainer(ctx context.Context, r *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	if err := s.startContainer(ctx, r.GetContainerId()); err != nil {
		return nil, err
	}
	return &runtimeapi.StartContainerResponse{}, nil
}

func (s *Server) startContainer(_ context.Context, ref string) error {
	id, err := s.store.ResolveContainer(ref)
	if err != nil {
		return err
	}
	unlock := s.ctrLocks.lock(id)
	defer unlock()
	c, err := s.store.Container(id)
	if err != nil {
		return err
	}
	if c.State != store.ContainerCreated {
		return fmt.Errorf("StartContainer: container %s is %s, not created: %w", id, c.State, ErrFailedPrecondition)
	}
	p, err := s.store.Pod(c.PodID)
	if err != nil {
		return err
	}
	if p.State != store.PodReady {
		return fmt.Errorf("StartContainer: pod sandbox %s of container %s is not ready: %w", p.ID, id, ErrFailedPrecondition)
	}
	if err := control.Call(p.ControlSocket, control.MethodStartContainer, control.ContainerRequest{ID: id}, nil, nil, 30*time.Second); err != nil {
		s.recordExit(id, control.WaitResult{ExitCode: 128}, reasonStartError, err.Error())
		return fmt.Errorf("StartContainer %s: %w", id, sentryErr(err))
	}
	c, err = s.store.UpdateContainer(id, func(c *store.Container) error {
		c.State = store.ContainerRunning
		c.StartedAt = time.Now().UnixNano()
		return nil
	})
	if err != nil {
		return err
	}
	s.watch(id, p.ID, p.ControlSocket)
	s.emit(runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT, &c)
	return nil
}
