package cri

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// Attach and a container's stdin and terminal.
//
// A container created with stdin gets a pipe as its init's stdin, with tty
// a pseudo-terminal; both are made and kept by the pod's sentry
// (control.Process.OpenStdin and Terminal, see sentry/control/attach.go),
// so they survive a daemon restart. The sentry logs the output (a
// terminal's as "stdout") and copies it to attached clients; without stdin
// the init's stdin is /dev/null and without tty nothing changes.
//
// CRI Attach returns the streaming server's URL (as Exec does). When the
// client connects, streamRuntime.Attach makes pipes and a hangup socket
// pair, hands them to the sentry in a control Attach call, and copies the
// client's streams to and from them. It returns when the client goes away
// (its stdin or an output stream breaks), when the sentry closes the hangup
// socket (the container's output has ended: what was left is drained,
// within a bound), or when the client's stdin ends: as containerd does,
// that detaches, except for the first attachment of a stdin_once
// container without a tty, where it closes the container's stdin and the
// output keeps flowing until the container exits. Resize requests of a
// terminal go to control Resize. A client that does not read its output
// loses what the sentry cannot hold for it (1 MiB per stream), never the
// log.

// Attach implements CRI Attach: it checks that the container runs and
// returns the URL of the streaming server where the client attaches. At
// least one of stdin, stdout and stderr must be asked for; tty and stderr
// exclude each other.
func (s *Server) Attach(ctx context.Context, r *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return s.attach(ctx, r)
}

func (s *Server) attach(_ context.Context, r *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	if _, _, err := s.runningContainer("Attach", r.GetContainerId()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	ss := s.stream
	s.mu.Unlock()
	if ss == nil {
		return nil, fmt.Errorf("Attach: the streaming server is not running: %w", ErrFailedPrecondition)
	}
	resp, err := ss.GetAttach(r)
	if err != nil {
		return nil, fmt.Errorf("Attach: %v: %w", err, ErrInvalidArgument)
	}
	return resp, nil
}

// attachProcess sets the init's stdin and terminal from the container's
// config (CreateContainer).
func attachProcess(p *control.Process, cfg *runtimeapi.ContainerConfig) {
	p.Terminal = cfg.GetTty()
	p.OpenStdin = cfg.GetStdin()
	p.StdinOnce = cfg.GetStdinOnce()
}

// attachDrain bounds how long Attach waits for the rest of the output once
// the sentry says the container's output has ended.
const attachDrain = 2 * time.Second

// attachStreams is streamRuntime.Attach: it attaches the client's streams
// (nil: not asked for) to container ref until one side ends.
func (s *Server) attachStreams(ctx context.Context, ref string, in io.Reader, out, errw io.WriteCloser, resize <-chan remotecommandserver.TerminalSize) error {
	c, p, err := s.runningContainer("Attach", ref)
	if err != nil {
		return err
	}
	var send []*os.File // passed to the sentry, closed after the call
	var mine []io.Closer
	defer func() {
		for _, f := range send {
			f.Close()
		}
		for _, f := range mine {
			f.Close()
		}
	}()
	add := func(f *os.File) int { send = append(send, f); return len(send) - 1 }
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("Attach: %w", err)
	}
	hangup := os.NewFile(uintptr(pair[0]), "attach-hangup")
	mine = append(mine, hangup)
	req := control.AttachRequest{ID: c.ID, Stdin: -1, Stdout: -1, Stderr: -1,
		Hangup: add(os.NewFile(uintptr(pair[1]), "attach-hangup-sentry"))}
	var stdinW *os.File
	if in != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("Attach: %w", err)
		}
		req.Stdin, stdinW = add(r), w
		mine = append(mine, w)
	}
	type output struct {
		r *os.File
		w io.Writer
	}
	var outs []output
	for i, w := range []io.WriteCloser{out, errw} {
		if w == nil {
			continue
		}
		r, pw, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("Attach: %w", err)
		}
		if i == 0 {
			req.Stdout = add(pw)
		} else {
			req.Stderr = add(pw)
		}
		mine = append(mine, r)
		outs = append(outs, output{r, w})
	}
	raw := make([]int, len(send))
	for i, f := range send {
		raw[i] = int(f.Fd())
	}
	var res control.AttachResult
	err = control.Call(p.ControlSocket, control.MethodAttach, req, raw, &res, 30*time.Second)
	for _, f := range send {
		f.Close()
	}
	send = nil
	if err != nil {
		return fmt.Errorf("Attach to container %s: %w", c.ID, sentryErr(err))
	}

	// The output: done when every stream has ended; gone when the
	// client stopped taking one.
	var outputs sync.WaitGroup
	gone := make(chan struct{})
	var goneOnce sync.Once
	for _, o := range outs {
		outputs.Add(1)
		go func() {
			defer outputs.Done()
			if !copyOut(o.w, o.r) {
				goneOnce.Do(func() { close(gone) })
			}
		}()
	}
	var outputsDone chan struct{}
	if len(outs) > 0 {
		outputsDone = make(chan struct{})
		go func() { outputs.Wait(); close(outputsDone) }()
	}
	ended := make(chan struct{})
	go func() { io.Copy(io.Discard, hangup); close(ended) }()
	var stdinEnded chan struct{}
	if stdinW != nil {
		if res.Stdin {
			stdinEnded = make(chan struct{})
			go func() { io.Copy(stdinW, in); close(stdinEnded) }()
		} else {
			stdinW.Close() // the container has no stdin
		}
	}
	if res.Terminal && resize != nil {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			for {
				select {
				case sz, ok := <-resize:
					if !ok {
						return
					}
					control.Call(p.ControlSocket, control.MethodResize, control.ResizeRequest{ID: c.ID, Width: sz.Width, Height: sz.Height}, nil, nil, 5*time.Second)
				case <-rctx.Done():
					return
				}
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-gone:
			return nil
		case <-outputsDone:
			return nil
		case <-ended:
			if outputsDone != nil {
				select {
				case <-outputsDone:
				case <-gone:
				case <-time.After(attachDrain):
				}
			}
			return nil
		case <-stdinEnded:
			if res.StdinOnce && !res.Terminal {
				// Close the container's stdin; keep the output.
				stdinW.Close()
				stdinEnded = nil
				continue
			}
			return nil
		}
	}
}

// copyOut copies an output pipe to the client until the pipe ends (true)
// or the client stops taking it (false).
func copyOut(w io.Writer, r io.Reader) bool {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return false
			}
		}
		if err != nil {
			return true
		}
	}
}
