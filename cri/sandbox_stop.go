package cri

import (
	"context"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/sandbox"
	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// StopPodSandbox implements CRI StopPodSandbox: it kills every container
// of the pod and ends its sentry; the pod becomes NotReady. As the CRI
// spec asks, stopping a stopped pod succeeds (an unknown pod is NotFound,
// as in containerd).
func (s *Server) StopPodSandbox(ctx context.Context, r *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	if err := s.stopPodSandbox(ctx, r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (s *Server) stopPodSandbox(ctx context.Context, ref string) error {
	id, err := s.store.ResolvePod(ref)
	if err != nil {
		return err
	}
	unlock := s.podLocks.lock(id)
	defer unlock()
	return s.stopPodLocked(ctx, id)
}

// stopPodLocked stops pod id; the caller holds its lock.
func (s *Server) stopPodLocked(ctx context.Context, id string) error {
	p, err := s.store.Pod(id)
	if err != nil {
		return err
	}
	if p.State == store.PodNotReady && p.SentryPID == 0 {
		return nil
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
	return err
}
