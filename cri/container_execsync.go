package cri

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// maxExecOutput bounds what ExecSync keeps of each of stdout and stderr.
const maxExecOutput = 16 << 20

// ExecSync implements CRI ExecSync: it runs a command in a running
// container (with the container's environment, working directory and
// user) and returns its output and exit code. With a timeout, as in
// containerd, the command is killed when it expires and the call fails
// with DeadlineExceeded.
func (s *Server) ExecSync(ctx context.Context, r *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	return s.execSync(ctx, r)
}

func (s *Server) execSync(ctx context.Context, r *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	if len(r.GetCmd()) == 0 {
		return nil, fmt.Errorf("ExecSync: cmd is empty: %w", ErrInvalidArgument)
	}
	c, p, err := s.runningContainer("ExecSync", r.GetContainerId())
	if err != nil {
		return nil, err
	}
	proc := controlProcess(&c.Process)
	proc.Args = r.GetCmd()

	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer outR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return nil, err
	}
	defer errR.Close()
	proc.Stdout, proc.Stderr = 0, 1
	var er control.ExecResult
	err = control.Call(p.ControlSocket, control.MethodExec, control.ExecRequest{ID: c.ID, Process: proc},
		[]int{int(outW.Fd()), int(errW.Fd())}, &er, 30*time.Second)
	outW.Close()
	errW.Close()
	if err != nil {
		return nil, fmt.Errorf("ExecSync in container %s: %w", c.ID, sentryErr(err))
	}
	var stdout, stderr bytes.Buffer
	done := make(chan struct{}, 2)
	go func() { io.Copy(&limited{&stdout, maxExecOutput}, outR); done <- struct{}{} }()
	go func() { io.Copy(&limited{&stderr, maxExecOutput}, errR); done <- struct{}{} }()

	wctx := ctx
	if r.GetTimeout() > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, time.Duration(r.GetTimeout())*time.Second)
		defer cancel()
	}
	var wr control.WaitResult
	err = control.CallContext(wctx, p.ControlSocket, control.MethodWaitPID, control.WaitPIDRequest{ID: c.ID, PID: er.PID}, &wr)
	if err != nil {
		if wctx.Err() != nil {
			// Kill the command (and its process group), as containerd
			// does on a timeout.
			control.Call(p.ControlSocket, control.MethodSignal,
				control.SignalRequest{ID: c.ID, PID: er.PID, Signal: int(unix.SIGKILL)}, nil, nil, 5*time.Second)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("ExecSync %q in container %s: timeout %ds exceeded: %w", r.GetCmd(), c.ID, r.GetTimeout(), ErrDeadlineExceeded)
		}
		return nil, fmt.Errorf("ExecSync in container %s: %w", c.ID, sentryErr(err))
	}
	// Output still buffered in the pipes is collected; a background
	// process that keeps them open is not waited for long.
	deadline := time.After(2 * time.Second)
	for i := 0; i < 2; i++ {
		select {
		case <-done:
		case <-deadline:
			outR.Close()
			errR.Close()
			<-done
		}
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: int32(wr.ExitCode)}, nil
}

// runningContainer resolves ref to a running container of a ready pod
// (FailedPrecondition otherwise).
func (s *Server) runningContainer(call, ref string) (store.Container, store.Pod, error) {
	id, err := s.store.ResolveContainer(ref)
	if err != nil {
		return store.Container{}, store.Pod{}, err
	}
	c, err := s.store.Container(id)
	if err != nil {
		return c, store.Pod{}, err
	}
	if c.State != store.ContainerRunning {
		return c, store.Pod{}, fmt.Errorf("%s: container %s is not running (%s): %w", call, id, c.State, ErrFailedPrecondition)
	}
	p, err := s.store.Pod(c.PodID)
	if err != nil {
		return c, p, err
	}
	if p.State != store.PodReady {
		return c, p, fmt.Errorf("%s: pod sandbox %s is not ready: %w", call, p.ID, ErrFailedPrecondition)
	}
	return c, p, nil
}

// limited is a writer that keeps the first n bytes and drops the rest.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(b []byte) (int, error) {
	if l.n > 0 {
		k := min(len(b), l.n)
		l.w.Write(b[:k])
		l.n -= k
	}
	return len(b), nil
}
