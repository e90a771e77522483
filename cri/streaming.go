package cri

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/cri-streaming/pkg/streaming"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// The streaming server (Exec; Attach in container_attach.go, PortForward in
// sandbox_portforward.go) is k8s.io/cri-streaming's, served over plain HTTP on a
// loopback port chosen at start (the kubelet, or crictl, connects to the
// URL that Exec returns). Its Runtime is streamRuntime: an exec is a
// control Exec whose stdio are pipes (or, with a tty, the slave of a host
// pseudo-terminal whose master the daemon keeps), copied to and from the
// client's streams, then a control WaitPID for the exit code.

// startStreaming listens on a loopback port and serves the streaming
// server until stop is called.
func (s *Server) startStreaming() (stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("streaming server: %w", err)
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = l.Addr().String()
	ss, err := streaming.NewServer(cfg, &streamRuntime{s: s})
	if err != nil {
		l.Close()
		return nil, err
	}
	hs := &http.Server{Handler: ss, ReadHeaderTimeout: 30 * time.Second}
	go hs.Serve(l)
	s.mu.Lock()
	s.stream = ss
	s.mu.Unlock()
	return func() { hs.Close() }, nil
}

// streamRuntime runs the streams of the streaming server.
type streamRuntime struct{ s *Server }

// Exec runs cmd in the container with the client's streams; a non-zero
// exit is a utilexec.CodeExitError, as the streaming server expects.
func (r *streamRuntime) Exec(ctx context.Context, containerID string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	c, p, err := r.s.runningContainer("Exec", containerID)
	if err != nil {
		return err
	}
	proc := controlProcess(&c.Process)
	proc.Args = cmd
	var fds []*os.File // passed to the sentry, closed after the call
	var copies sync.WaitGroup
	var closers []io.Closer
	defer func() {
		for _, f := range fds {
			f.Close()
		}
	}()
	add := func(f *os.File) int { fds = append(fds, f); return len(fds) - 1 }
	var master *os.File
	if tty {
		m, slave, err := openPty()
		if err != nil {
			return err
		}
		master = m
		closers = append(closers, m)
		idx := add(slave)
		proc.Terminal, proc.Stdin, proc.Stdout, proc.Stderr = true, idx, idx, idx
		if in != nil {
			go io.Copy(m, in)
		}
		if out != nil {
			copies.Add(1)
			go func() { defer copies.Done(); io.Copy(out, m) }()
		}
	} else {
		if in != nil {
			rd, wr, err := os.Pipe()
			if err != nil {
				return err
			}
			proc.Stdin = add(rd)
			closers = append(closers, wr)
			go func() { io.Copy(wr, in); wr.Close() }()
		}
		for i, w := range []io.WriteCloser{out, errw} {
			if w == nil {
				continue
			}
			rd, wr, err := os.Pipe()
			if err != nil {
				return err
			}
			idx := add(wr)
			if i == 0 {
				proc.Stdout = idx
			} else {
				proc.Stderr = idx
			}
			closers = append(closers, rd)
			copies.Add(1)
			go func() { defer copies.Done(); io.Copy(w, rd) }()
		}
	}
	defer func() {
		for _, cl := range closers {
			cl.Close()
		}
	}()
	raw := make([]int, len(fds))
	for i, f := range fds {
		raw[i] = int(f.Fd())
	}
	var er control.ExecResult
	err = control.Call(p.ControlSocket, control.MethodExec, control.ExecRequest{ID: c.ID, Process: proc}, raw, &er, 30*time.Second)
	for _, f := range fds {
		f.Close()
	}
	fds = nil
	if err != nil {
		return fmt.Errorf("Exec in container %s: %w", c.ID, sentryErr(err))
	}
	if master != nil && resize != nil {
		go func() {
			for sz := range resize {
				control.Call(p.ControlSocket, control.MethodResize, control.ResizeRequest{ID: c.ID, PID: er.PID, Width: sz.Width, Height: sz.Height}, nil, nil, 5*time.Second)
			}
		}()
	}
	var wr control.WaitResult
	err = control.CallContext(ctx, p.ControlSocket, control.MethodWaitPID, control.WaitPIDRequest{ID: c.ID, PID: er.PID}, &wr)
	if err != nil {
		return fmt.Errorf("Exec in container %s: %w", c.ID, sentryErr(err))
	}
	// Let the output drain (a pty master reads EIO once the slave's last
	// holder is gone; pipes reach EOF), but not forever.
	drained := make(chan struct{})
	go func() { copies.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
	}
	if wr.ExitCode != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command %q exited with %d", cmd, wr.ExitCode), Code: wr.ExitCode}
	}
	return nil
}

// Attach attaches the client's streams to a running container's init
// (container_attach.go); the container's tty decides, not the client's.
func (r *streamRuntime) Attach(ctx context.Context, containerID string, in io.Reader, out, errw io.WriteCloser, _ bool, resize <-chan remotecommandserver.TerminalSize) error {
	return r.s.attachStreams(ctx, containerID, in, out, errw, resize)
}

// PortForward forwards one connection to a port of the pod
// (sandbox_portforward.go).
func (r *streamRuntime) PortForward(ctx context.Context, podSandboxID string, port int32, stream io.ReadWriteCloser) error {
	return r.s.portForwardStream(ctx, podSandboxID, port, stream)
}

// openPty opens a host pseudo-terminal pair.
func openPty() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("pty: %w", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("pty unlock: %w", err)
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		// Older kernels: open by name.
		n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
		if err != nil {
			m.Close()
			return nil, nil, errors.Join(errno, err)
		}
		s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			m.Close()
			return nil, nil, err
		}
		return m, s, nil
	}
	return m, os.NewFile(uintptr(sfd), "pty-slave"), nil
}
