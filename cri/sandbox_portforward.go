package cri

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// PortForward implements CRI PortForward: it checks that the pod is ready
// and returns the URL of the streaming server, where the client (kubelet,
// kubectl port-forward through it, crictl) opens SPDY or websocket streams
// per connection. Each forwarded connection is one control PortForward
// call (sentry/control/portforward.go): the daemon hands the sentry one end
// of a host socket pair, the sentry connects to the port on the pod's own
// loopback (127.0.0.1, then ::1) and splices; the daemon copies between
// the client's stream and its end (portForwardStream).
func (s *Server) PortForward(ctx context.Context, r *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	return s.portForward(ctx, r)
}

func (s *Server) portForward(_ context.Context, r *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	for _, p := range r.GetPort() {
		if p <= 0 || p > 65535 {
			return nil, fmt.Errorf("PortForward: port %d is out of range: %w", p, ErrInvalidArgument)
		}
	}
	if _, err := s.readyPod("PortForward", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	ss := s.stream
	s.mu.Unlock()
	if ss == nil {
		return nil, fmt.Errorf("PortForward: the streaming server is not running: %w", ErrFailedPrecondition)
	}
	resp, err := ss.GetPortForward(r)
	if err != nil {
		return nil, fmt.Errorf("PortForward: %v: %w", err, ErrInvalidArgument)
	}
	return resp, nil
}

// readyPod resolves ref to a ready pod (FailedPrecondition otherwise).
func (s *Server) readyPod(call, ref string) (store.Pod, error) {
	id, err := s.store.ResolvePod(ref)
	if err != nil {
		return store.Pod{}, err
	}
	p, err := s.store.Pod(id)
	if err != nil {
		return p, err
	}
	if p.State != store.PodReady {
		return p, fmt.Errorf("%s: pod sandbox %s is not ready: %w", call, p.ID, ErrFailedPrecondition)
	}
	return p, nil
}

// portForwardCallTimeout bounds the control call (the sentry's own dial
// timeout is shorter).
const portForwardCallTimeout = 15 * time.Second

// portForwardStream forwards one client connection (stream) to port of
// the pod: it returns once both directions are done, the client's stream
// fails, or ctx ends. Half-closes pass through: the client's EOF shuts
// the pod connection for writing, the pod's EOF closes the stream (for
// SPDY, a half-close: the client may still send).
func (s *Server) portForwardStream(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	if port <= 0 || port > 65535 {
		return fmt.Errorf("PortForward: port %d is out of range: %w", port, ErrInvalidArgument)
	}
	p, err := s.readyPod("PortForward", podID)
	if err != nil {
		return err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("PortForward: socketpair: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "portforward")
	theirs := os.NewFile(uintptr(fds[1]), "portforward-sentry")
	err = control.Call(p.ControlSocket, control.MethodPortForward, control.PortForwardRequest{Port: uint16(port)},
		[]int{int(theirs.Fd())}, nil, portForwardCallTimeout)
	theirs.Close()
	if err != nil {
		mine.Close()
		return fmt.Errorf("PortForward: port %d of pod %s: %w", port, p.ID, sentryErr(err))
	}
	c, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return fmt.Errorf("PortForward: %w", err)
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()

	toPod := make(chan error, 1)
	fromPod := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stream)
		conn.CloseWrite()
		toPod <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		if err == nil {
			err = stream.Close()
		}
		fromPod <- err
	}()
	pending := 2
	for pending > 0 {
		select {
		case err := <-toPod:
			pending--
			toPod = nil
			if err != nil {
				return fmt.Errorf("PortForward: port %d of pod %s: from the client: %w", port, p.ID, err)
			}
		case err := <-fromPod:
			pending--
			fromPod = nil
			if err != nil {
				return fmt.Errorf("PortForward: port %d of pod %s: to the client: %w", port, p.ID, err)
			}
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}
