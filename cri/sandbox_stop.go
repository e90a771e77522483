package cri

import (
	"context"
	"errors"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/sandbox"
	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// StopPodSandbox implements CRI StopPodSandbox: it kills every container
// of the pod and ends its sentry; the pod becomes NotReady. As the CRI
// spec asks ("if there are any resources that are not found, the call
// must not return an error"), stopping a stopped or an unknown pod
// succeeds: the kubelet may retry a stop after the pod was removed.
// The pod's network is torn down (CNI DEL) after its sentry is gone; a
// failed DEL fails the stop, and the next stop retries it.
func (s *Server) StopPodSandbox(ctx context.Context, r *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	if err := s.stopPodSandbox(ctx, r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (s *Server) stopPodSandbox(ctx context.Context, ref string) error {
	id, err := s.store.ResolvePod(ref)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	unlock := s.podLocks.lock(id)
	defer unlock()
	if err := s.stopPodLocked(ctx, id); !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil // removed while we waited for its lock
}

// stopPodLocked stops pod id; the caller holds its lock.
func (s *Server) stopPodLocked(ctx context.Context, id string) error {
	p, err := s.store.Pod(id)
	if err != nil {
		return err
	}
	if p.State == store.PodNotReady && p.SentryPID == 0 {
		// A DEL that failed before is retried; one that ran is not.
		return s.net.Teardown(ctx, id)
	}
	// Containers are killed with the sentry; record them as exited by
	// the pod stop (a watcher may record a real exit status first).
	if p.State == store.PodReady {
		for _, c := range s.store.Containers(id) {
			if c.State == store.ContainerRunning {
				control.Call(p.ControlSocket, control.MethodSignal, control.SignalRequest{ID: c.ID, Signal: 9, All: true}, nil, nil, time.Second)
			}
		}
	}
	if err := sandbox.Shutdown(p.ControlSocket, p.SentryPID, 2*time.Second); err != nil {
		return err
	}
	for _, c := range s.store.Containers(id) {
		if c.State != store.ContainerExited {
			code := 137
			if c.State == store.ContainerCreated {
				code = 0
			}
			s.recordExit(c.ID, control.WaitResult{ExitCode: code}, reasonPodStopped, "")
		}
	}
	_, err = s.store.UpdatePod(id, func(p *store.Pod) error {
		p.State = store.PodNotReady
		p.SentryPID = 0
		if p.Reason == "" {
			p.Reason = reasonPodStopped
		}
		return nil
	})
	if err != nil {
		return err
	}
	// CNI DEL once the sentry (and its packet socket) is gone.
	return s.net.Teardown(ctx, id)
}
