package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/sandbox"
	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// Exit reasons, as the kubelet shows them.
const (
	reasonCompleted   = "Completed"
	reasonError       = "Error"
	reasonSandboxDied = "SandboxDied"
	reasonPodStopped  = "PodStopped"
	reasonStartError  = "StartError"
)

// exitedChan returns the channel closed when container id's exit is
// recorded (nil if it is not watched).
func (s *Server) exitedChan(id string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exited[id]
}

// watch starts the watcher of running container c of the pod whose
// sentry listens on socket: a goroutine blocked in control Wait that
// records the exit. Watchers end at daemon shutdown without recording
// anything (the next daemon resumes watching).
func (s *Server) watch(id, podID, socket string) {
	s.mu.Lock()
	if _, ok := s.exited[id]; ok {
		s.mu.Unlock()
		return
	}
	s.exited[id] = make(chan struct{})
	s.mu.Unlock()
	s.watchWG.Add(1)
	go func() {
		defer s.watchWG.Done()
		var wr control.WaitResult
		err := control.CallContext(s.watchCtx, socket, control.MethodWait, control.ContainerRequest{ID: id}, &wr)
		if s.watchCtx.Err() != nil {
			return
		}
		if err != nil {
			if sandbox.Alive(socket) != nil {
				s.sentryDied(podID, err)
				return
			}
			s.log.Warn("waiting for a container failed; recording it as exited", "container", id, "err", err)
			s.recordExit(id, control.WaitResult{ExitCode: 255, FinishedAt: time.Now().UnixNano()}, reasonError, err.Error())
			return
		}
		s.recordExit(id, wr, "", "")
	}()
}

// watchPod starts the watcher of a ready pod's sentry process: if it dies
// while the pod is Ready (and not being stopped: the watcher takes the
// pod's lock), the pod becomes NotReady and its containers Exited.
func (s *Server) watchPod(id string, pid int, socket string) {
	s.watchWG.Add(1)
	go func() {
		defer s.watchWG.Done()
		if !sandbox.WaitExit(s.watchCtx, pid, socket) {
			return // daemon shutdown
		}
		unlock := s.podLocks.lock(id)
		defer unlock()
		p, err := s.store.Pod(id)
		if err != nil || p.State != store.PodReady || p.SentryPID != pid {
			return
		}
		s.sentryDied(id, fmt.Errorf("the sentry (pid %d) exited", pid))
	}()
}

// stopWatchers ends every watcher (daemon shutdown).
func (s *Server) stopWatchers() {
	s.watchCancel()
	s.watchWG.Wait()
}

// recordExit records that container id exited with wr (if it was not
// already recorded) and wakes whoever waits for it.
func (s *Server) recordExit(id string, wr control.WaitResult, reason, msg string) {
	if reason == "" {
		reason = reasonCompleted
		if wr.OOMKilled {
			reason = reasonOOMKilled
		} else if wr.ExitCode != 0 {
			reason = reasonError
		}
	}
	if wr.FinishedAt == 0 {
		wr.FinishedAt = time.Now().UnixNano()
	}
	changed := false
	c, err := s.store.UpdateContainer(id, func(c *store.Container) error {
		if c.State == store.ContainerExited {
			return nil
		}
		changed = true
		c.State = store.ContainerExited
		c.ExitCode = int32(wr.ExitCode)
		c.FinishedAt = wr.FinishedAt
		c.Reason, c.Message = reason, msg
		return nil
	})
	s.mu.Lock()
	if ch, ok := s.exited[id]; ok {
		close(ch)
		delete(s.exited, id)
	}
	s.mu.Unlock()
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.log.Error("recording a container exit", "container", id, "err", err)
		}
		return
	}
	if changed {
		s.emit(runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, &c)
	}
}

// sentryDied marks pod podID NotReady and its unfinished containers
// Exited, because its sentry is gone.
func (s *Server) sentryDied(podID string, cause error) {
	s.log.Warn("a pod's sentry is gone", "pod", podID, "cause", cause)
	_, err := s.store.UpdatePod(podID, func(p *store.Pod) error {
		if p.State == store.PodNotReady {
			return nil
		}
		p.State = store.PodNotReady
		p.Reason = reasonSandboxDied
		p.SentryPID = 0
		return nil
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		s.log.Error("marking a pod NotReady", "pod", podID, "err", err)
	}
	for _, c := range s.store.Containers(podID) {
		if c.State != store.ContainerExited {
			s.recordExit(c.ID, control.WaitResult{ExitCode: 255}, reasonSandboxDied,
				fmt.Sprintf("the pod's sentry is gone: %v", cause))
		}
	}
}

// recover reattaches to the pods the last daemon left (see the package
// comment): a pod whose sentry answers Ping stays Ready and its running
// containers are watched again (a container that exited meanwhile is
// recorded at once: the sentry keeps its status until RemoveContainer); a
// pod whose sentry is gone becomes NotReady with its containers Exited. A
// pod caught in the middle of RunPodSandbox is stopped.
func (s *Server) recover(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range s.store.Pods() {
		switch p.State {
		case store.PodInit:
			sandbox.Shutdown(p.ControlSocket, p.SentryPID, time.Second)
			s.sentryDied(p.ID, errors.New("the daemon stopped while the pod was starting"))
			continue
		case store.PodNotReady:
			for _, c := range s.store.Containers(p.ID) {
				if c.State != store.ContainerExited {
					s.recordExit(c.ID, control.WaitResult{ExitCode: 255}, reasonPodStopped, "")
				}
			}
			continue
		}
		if err := sandbox.Alive(p.ControlSocket); err != nil {
			s.sentryDied(p.ID, err)
			continue
		}
		s.watchPod(p.ID, p.SentryPID, p.ControlSocket)
		for _, c := range s.store.Containers(p.ID) {
			if c.State != store.ContainerRunning {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				var wr control.WaitResult
				err := control.Call(p.ControlSocket, control.MethodWait, control.ContainerRequest{ID: c.ID}, nil, &wr, 200*time.Millisecond)
				if err == nil {
					s.recordExit(c.ID, wr, "", "")
					return
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					s.watch(c.ID, p.ID, p.ControlSocket)
					return
				}
				s.log.Warn("a container is gone from its sentry", "container", c.ID, "err", err)
				s.recordExit(c.ID, control.WaitResult{ExitCode: 255}, reasonError, err.Error())
			}()
		}
	}
	wg.Wait()
	n := len(s.store.Pods())
	if n > 0 {
		s.log.Info("reattached to pods", "pods", n)
	}
}
