package boot

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/control"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
)

// Version is what Ping reports (the command sets it).
var Version = "dev"

// RunPod is `runsc-cri boot --pod`: it detaches from the caller's session
// (the pod must outlive the daemon that started it), builds the pod
// sentry, serves the control protocol at controlPath until Shutdown (or
// SIGTERM/SIGINT), and returns the exit status (0 after a shutdown).
// readyFD, if >= 0, is written "ok\n" once the socket accepts calls (or the
// error text if the start failed) and closed, so the daemon does not have
// to poll.
func RunPod(spec PodSpec, controlPath string, readyFD int, log *slog.Logger) int {
	ready := func(msg string) {
		if readyFD >= 0 {
			unix.Write(readyFD, []byte(msg+"\n"))
			unix.Close(readyFD)
			readyFD = -1
		}
	}
	// Our own session, and no death signal tied to the daemon.
	unix.Setsid()
	unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)

	p, err := StartPod(spec, log)
	if err != nil {
		ready("error: " + err.Error())
		log.Error("pod sentry", "err", err)
		return 1
	}
	l, err := listenControl(controlPath)
	if err != nil {
		ready("error: " + err.Error())
		log.Error("pod sentry", "err", err)
		p.Shutdown()
		p.Destroy()
		return 1
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		select {
		case s := <-sigs:
			log.Warn("pod sentry: shutting down on signal", "signal", s)
			p.Shutdown()
		case <-p.Done():
		}
	}()
	srv := &server{pod: p}
	served := make(chan struct{})
	go func() {
		srv.serve(l)
		close(served)
	}()
	if err := InstallHostSeccomp(true); err != nil {
		ready("error: " + err.Error())
		log.Error("pod sentry", "err", err)
		p.Shutdown()
		p.Destroy()
		return 1
	}
	ready("ok")
	<-p.Done()
	l.Close()
	<-served
	// Let the calls in flight (the Shutdown call itself, Waits woken by
	// the kills) write their answers, within a bound.
	waited := make(chan struct{})
	go func() {
		srv.calls.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		log.Warn("pod sentry: calls still in flight at exit")
	}
	signal.Stop(sigs)
	p.Destroy()
	return 0
}

// listenControl listens on a SOCK_SEQPACKET socket at path, mode 0600. A
// stale socket file (nobody accepting) is replaced; a live one is an error.
func listenControl(path string) (*net.UnixListener, error) {
	if _, err := os.Lstat(path); err == nil {
		c, err := net.DialTimeout("unixpacket", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another sentry is serving it: %w", path, unix.EADDRINUSE)
		}
		os.Remove(path)
	}
	old := unix.Umask(0o177)
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return l, nil
}

// server serves the control protocol for a pod.
type server struct {
	pod *Pod
	// calls counts calls in flight.
	calls sync.WaitGroup
}

// serve accepts calls until l is closed.
func (s *server) serve(l *net.UnixListener) {
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.pod.log.Warn("control accept", "err", err)
			time.Sleep(10 * time.Millisecond) // EMFILE and friends
			continue
		}
		s.calls.Add(1)
		go func() {
			defer s.calls.Done()
			control.ServeConn(conn, s.handle)
		}()
	}
}

// handle is the control.Handler: it decodes params, runs the method and
// closes every fd the method did not keep. A panic becomes an error answer:
// a bad request must never take the pod down.
func (s *server) handle(req *control.Request, fds []*os.File) (res any, err error) {
	defer func() {
		for _, f := range fds {
			if f != nil {
				f.Close()
			}
		}
		if r := recover(); r != nil {
			s.pod.log.Error("control: panic", "method", req.Method, "panic", r)
			res, err = nil, fmt.Errorf("%s: internal error: %v: %w", req.Method, r, unix.EIO)
		}
	}()
	decode := func(v any) error {
		if len(req.Params) == 0 {
			return nil
		}
		if err := json.Unmarshal(req.Params, v); err != nil {
			return fmt.Errorf("%s: bad params: %v: %w", req.Method, err, unix.EINVAL)
		}
		return nil
	}
	p := s.pod
	switch req.Method {
	case control.MethodPing:
		return control.PingResult{PID: os.Getpid(), Version: Version}, nil
	case control.MethodCreateContainer:
		var r control.CreateContainerRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return struct{}{}, p.createContainer(&r, fds)
	case control.MethodStartContainer:
		var r control.ContainerRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		c, err := p.lookup(r.ID)
		if err != nil {
			return nil, err
		}
		return struct{}{}, c.start()
	case control.MethodSignal:
		var r control.SignalRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return struct{}{}, p.signal(&r)
	case control.MethodWait:
		var r control.ContainerRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return p.wait(r.ID)
	case control.MethodExec:
		var r control.ExecRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return p.exec(&r, fds)
	case control.MethodWaitPID:
		var r control.WaitPIDRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return p.waitPID(&r)
	case control.MethodResize:
		var r control.ResizeRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		c, err := p.lookup(r.ID)
		if err != nil {
			return nil, err
		}
		return struct{}{}, c.resize(r.PID, r.Width, r.Height)
	case control.MethodRemoveContainer:
		var r control.ContainerRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return struct{}{}, p.removeContainer(r.ID)
	case control.MethodReopenLog:
		var r control.ReopenLogRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		c, err := p.lookup(r.ID)
		if err != nil {
			return nil, err
		}
		if len(fds) < 1 || fds[0] == nil {
			return nil, c.errorf("ReopenLog: no log fd attached: %w", unix.EBADF)
		}
		c.log.reopen(fds[0])
		fds[0] = nil
		return struct{}{}, nil
	case control.MethodStats:
		var r control.StatsRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return p.stats(r.ID)
	case control.MethodProcesses:
		var r control.ContainerRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return p.processes(r.ID)
	case control.MethodAttach:
		var r control.AttachRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return p.attach(&r, fds)
	case control.MethodPortForward:
		var r control.PortForwardRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return p.portForward(&r, fds)
	case control.MethodConfigureNetwork:
		var r control.ConfigureNetworkRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return struct{}{}, p.configureNetwork(&r, fds)
	case control.MethodUpdateResources:
		var r control.UpdateResourcesRequest
		if err := decode(&r); err != nil {
			return nil, err
		}
		return struct{}{}, p.updateResources(&r)
	case control.MethodShutdown:
		// Kill everything now; RunPod exits once this answer is out.
		p.Shutdown()
		return struct{}{}, nil
	}
	return nil, fmt.Errorf("unknown method %q: %w", req.Method, unix.ENOSYS)
}

// signal implements MethodSignal.
func (p *Pod) signal(r *control.SignalRequest) error {
	c, err := p.lookup(r.ID)
	if err != nil {
		return err
	}
	if r.Signal < 0 || r.Signal > int(linux.SignalMaximum) {
		return c.errorf("signal %d: %w", r.Signal, unix.EINVAL)
	}
	if !c.hasStarted() {
		return c.errorf("not started: %w", unix.ESRCH)
	}
	if r.PID != 0 {
		// One process (an exec'd command) and its process group.
		if err := c.kc.SignalProcess(kernel.ThreadID(r.PID), linux.Signal(r.Signal)); err != nil {
			return c.errorf("signal %d to process %d: %w", r.Signal, r.PID, err)
		}
		return nil
	}
	if err := c.kc.Signal(linux.Signal(r.Signal), r.All); err != nil {
		return c.errorf("signal %d: no process to signal: %w", r.Signal, err)
	}
	return nil
}

// wait implements MethodWait: it blocks until the container's init has
// exited and every process of the container is gone.
func (p *Pod) wait(id string) (*control.WaitResult, error) {
	c, err := p.lookup(id)
	if err != nil {
		return nil, err
	}
	<-c.settled
	c.mu.Lock()
	state, startErr := c.state, c.startErr
	c.mu.Unlock()
	switch {
	case state == stateFailed:
		return nil, c.errorf("start failed: %w", startErr)
	case !c.hasStarted():
		return nil, c.errorf("removed before it started: %w", unix.ENOENT)
	}
	<-c.kc.Done()
	ws, at, _ := c.kc.Status()
	r := waitResult(ws, at.UnixNano())
	r.OOMKilled = c.kc.OOMKilled()
	return r, nil
}

func waitResult(ws interface {
	ShellStatus() int
	Signaled() bool
}, at int64) *control.WaitResult {
	r := &control.WaitResult{ExitCode: ws.ShellStatus(), FinishedAt: at}
	if ws.Signaled() {
		r.Signaled = true
		r.Signal = ws.ShellStatus() - 128
	}
	return r
}
