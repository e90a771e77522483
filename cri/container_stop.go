package cri

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/sandbox"
	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// StopContainer implements CRI StopContainer: the image's STOPSIGNAL (or
// SIGTERM) to the container's init, then, after timeout seconds, SIGKILL
// to all its processes. As the CRI spec asks, stopping a stopped or an
// unknown container succeeds; a Created container simply becomes Exited.
func (s *Server) StopContainer(ctx context.Context, r *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	if err := s.stopContainer(ctx, r.GetContainerId(), time.Duration(r.GetTimeout())*time.Second); err != nil {
		return nil, err
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

func (s *Server) stopContainer(ctx context.Context, ref string, timeout time.Duration) error {
	id, err := s.store.ResolveContainer(ref)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	unlock := s.ctrLocks.lock(id)
	defer unlock()
	if err := s.stopContainerLocked(ctx, id, timeout); !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil // removed while we waited for its lock
}

// killWait bounds the wait for a SIGKILLed container to be reported.
const killWait = 10 * time.Second

func (s *Server) stopContainerLocked(ctx context.Context, id string, timeout time.Duration) error {
	c, err := s.store.Container(id)
	if err != nil {
		return err
	}
	switch c.State {
	case store.ContainerExited:
		return nil
	case store.ContainerCreated:
		s.recordExit(id, control.WaitResult{}, "NeverStarted", "stopped before it started")
		return nil
	}
	p, err := s.store.Pod(c.PodID)
	if err != nil {
		return err
	}
	exited := s.exitedChan(id)
	if exited == nil {
		// Not watched (cannot happen for a running container of a ready
		// pod): watch it now.
		s.watch(id, p.ID, p.ControlSocket)
		exited = s.exitedChan(id)
	}
	if timeout > 0 {
		err := control.Call(p.ControlSocket, control.MethodSignal,
			control.SignalRequest{ID: id, Signal: signalNumber(c.StopSignal)}, nil, nil, 5*time.Second)
		if err == nil && exited != nil {
			select {
			case <-exited:
				return nil
			case <-time.After(timeout):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	err = control.Call(p.ControlSocket, control.MethodSignal,
		control.SignalRequest{ID: id, Signal: int(unix.SIGKILL), All: true}, nil, nil, 5*time.Second)
	if err != nil && sandbox.Alive(p.ControlSocket) != nil {
		s.sentryDied(p.ID, err)
		return nil
	}
	if exited != nil {
		select {
		case <-exited:
			return nil
		case <-time.After(killWait):
			return errors.New("StopContainer " + id + ": the container did not exit after SIGKILL")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
