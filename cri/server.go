// Package cri is runsc-cri's CRI v1 server: the RuntimeService and the
// ImageService on one unix socket.
//
// # Layout
//
// One CRI call per file (image_pull.go, version.go, sandbox_run.go, ...):
// an exported method, the gRPC entry point, that only calls a lowercase
// worker. Workers return plain Go errors wrapped with %w around the
// sentinels in errors.go (the same values as containerd's errdefs, so
// errors from the image store need no translation); the one interceptor
// in interceptor.go turns them into gRPC status codes and logs each call.
//
// Images are served by the embedded store in cri/images. The pod and
// container calls answer Unimplemented until the sandbox integration
// (cri/sandbox) is built; each sits in its own file to be replaced.
//
// # Lifecycle
//
// New opens the image store; Serve listens on the socket (its directory
// created 0700, a stale socket left by a dead daemon removed, a live one
// refused) and serves until its context is done; then it stops accepting,
// waits for in-flight calls (up to ShutdownTimeout, then cancels them) and
// closes the store. Pods are not touched by a shutdown.
//
// # Locking
//
// Server.mu guards only the runtime config set by UpdateRuntimeConfig;
// the image store does its own locking.
package cri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/config"
	"github.com/runsc-cri/runsc-cri/cri/images"
)

// RuntimeName is reported by Version.
const RuntimeName = "runsc-cri"

// ShutdownTimeout bounds how long Serve waits for in-flight calls after
// its context is done.
var ShutdownTimeout = 10 * time.Second

// Server implements runtimeapi.RuntimeServiceServer and
// runtimeapi.ImageServiceServer.
type Server struct {
	// The embedded defaults answer Unimplemented for calls added to the
	// CRI after this server was written.
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	cfg     config.Config
	log     *slog.Logger
	version string
	images  *images.Store

	mu sync.Mutex
	// podCIDR is the node's pod CIDR from UpdateRuntimeConfig. Guarded
	// by mu.
	podCIDR string
}

// Option configures New.
type Option func(*Server)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithVersion sets the runtime version reported by Version.
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// New opens the image store under cfg.Root and returns a server ready to
// Serve.
func New(ctx context.Context, cfg config.Config, opts ...Option) (*Server, error) {
	s := &Server{cfg: cfg, log: slog.Default(), version: "0.1.0-dev"}
	for _, o := range opts {
		o(s)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := images.Open(ctx, images.Options{
		Root:              filepath.Join(cfg.Root, "images"),
		RegistryConfigDir: cfg.RegistryConfigDir,
		Log:               s.log,
	})
	if err != nil {
		return nil, err
	}
	s.images = st
	return s, nil
}

// Images is the server's image store (for the container side).
func (s *Server) Images() *images.Store { return s.images }

// Serve serves CRI on cfg.Socket until ctx is done, then shuts down
// gracefully and closes the server's store. ready, if not nil, is closed
// once the socket accepts connections.
func (s *Server) Serve(ctx context.Context, ready chan<- struct{}) error {
	defer s.images.Close()
	l, err := listen(s.cfg.Socket)
	if err != nil {
		return err
	}
	ic := &interceptor{log: s.log}
	g := grpc.NewServer(grpc.UnaryInterceptor(ic.unary), grpc.StreamInterceptor(ic.stream))
	runtimeapi.RegisterRuntimeServiceServer(g, s)
	runtimeapi.RegisterImageServiceServer(g, s)
	s.log.Info("serving CRI", "socket", s.cfg.Socket, "root", s.cfg.Root, "snapshotter", s.images.Snapshotter())
	if ready != nil {
		close(ready)
	}
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(l) }()
	select {
	case err := <-errc:
		os.Remove(s.cfg.Socket)
		return fmt.Errorf("serving CRI: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: no new calls; waiting for in-flight calls")
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(ShutdownTimeout):
		s.log.Warn("in-flight calls did not finish in time; cancelling them", "timeout", ShutdownTimeout)
		g.Stop()
		<-done
	}
	<-errc
	os.Remove(s.cfg.Socket)
	s.log.Info("stopped")
	return nil
}

// listen makes the socket's directory (0700 when created), removes a
// stale socket and listens.
func listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another daemon is serving on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
