package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/control"
	"github.com/runsc-cri/runsc-cri/sentry/socket/inet"
)

// portForwardDialTimeout bounds the connection to the pod's port.
const portForwardDialTimeout = 10 * time.Second

// portForward implements control.MethodPortForward: it connects to the
// pod's port on its own stack and splices the connection with the
// attached socket (fds[0], kept) in the background.
func (p *Pod) portForward(r *control.PortForwardRequest, fds []*os.File) (any, error) {
	if r.Port == 0 {
		return nil, fmt.Errorf("PortForward: port 0: %w", unix.EINVAL)
	}
	if len(fds) < 1 || fds[0] == nil {
		return nil, fmt.Errorf("PortForward: no socket attached: %w", unix.EBADF)
	}
	ctx, cancel := context.WithTimeout(context.Background(), portForwardDialTimeout)
	defer cancel()
	pc, err := inet.StackFor(p.m.v).DialLoopback(ctx, r.Port)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = unix.ETIMEDOUT
		}
		return nil, fmt.Errorf("PortForward: port %d: %w", r.Port, err)
	}
	f := fds[0]
	fds[0] = nil
	hc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("PortForward: attached fd: %w", err)
	}
	hs, ok := hc.(*net.UnixConn)
	if !ok {
		hc.Close()
		pc.Close()
		return nil, fmt.Errorf("PortForward: attached fd is not a unix stream socket: %w", unix.ENOTSOCK)
	}
	go splice(hs, pc)
	return struct{}{}, nil
}

// halfCloser is a connection whose write side can be shut down.
type halfCloser interface {
	net.Conn
	CloseWrite() error
}

// splice copies a→b and b→a. EOF on one side shuts the other's write
// side (half-close); an error on either ends both. Both are closed when
// both directions are done.
func splice(a, b halfCloser) {
	done := make(chan error, 2)
	cp := func(dst, src halfCloser) {
		_, err := io.Copy(dst, src)
		if err == nil {
			err = dst.CloseWrite()
		}
		done <- err
	}
	go cp(a, b)
	go cp(b, a)
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			// A reset or a failed write: nothing more can flow.
			a.Close()
			b.Close()
		}
	}
	a.Close()
	b.Close()
}
