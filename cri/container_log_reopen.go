package cri

import (
	"context"
	"fmt"
	"os"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// ReopenContainerLog implements CRI ReopenContainerLog: the sentry writes
// the container's log to a newly opened file at its log path (after the
// kubelet rotated the old one). Only a running container's log can be
// reopened (FailedPrecondition otherwise).
func (s *Server) ReopenContainerLog(ctx context.Context, r *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	if err := s.reopenContainerLog(ctx, r.GetContainerId()); err != nil {
		return nil, err
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}

func (s *Server) reopenContainerLog(_ context.Context, ref string) error {
	id, err := s.store.ResolveContainer(ref)
	if err != nil {
		return err
	}
	c, err := s.store.Container(id)
	if err != nil {
		return err
	}
	if c.State != store.ContainerRunning {
		return fmt.Errorf("ReopenContainerLog: container %s is not running: %w", id, ErrFailedPrecondition)
	}
	if c.LogPath == "" {
		return fmt.Errorf("ReopenContainerLog: container %s has no log path: %w", id, ErrFailedPrecondition)
	}
	p, err := s.store.Pod(c.PodID)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(c.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("ReopenContainerLog %s: %w", id, err)
	}
	defer f.Close()
	err = control.Call(p.ControlSocket, control.MethodReopenLog, control.ReopenLogRequest{ID: id}, []int{int(f.Fd())}, nil, 10*time.Second)
	if err != nil {
		return fmt.Errorf("ReopenContainerLog %s: %w", id, sentryErr(err))
	}
	return nil
}
