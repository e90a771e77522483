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
// Images are served by the embedded store in cri/images. Pods and
// containers are records in cri/store (under Root/state), run by
// cri/sandbox: one sentry per pod, one gofer per container, talked to only
// through sentry/control. Each running container has a watcher goroutine
// (watch.go) blocked in control Wait that records its exit. Exec streams
// go through k8s.io/cri-streaming on a loopback HTTP port (streaming.go).
//
// Idempotency, as the CRI spec asks and containerd does: stopping a
// stopped pod or container, and removing a removed (or unknown) pod or
// container, succeed; stopping an unknown one succeeds too (the spec: "if
// there are any resources that are not found, the call must not return
// an error"); a taken pod or container name is AlreadyExists.
//
// Root holds images/ (the image store), state/ (the store), pods/<id>/
// (a pod's spec, sentry log and /etc files), containers/<id>/ (a
// container's rootfs mount point and gofer log) and s/ (control sockets,
// named by the first 12 digits of the pod ID, which New IDs keep unique).
//
// # Lifecycle
//
// New opens the image store and the pod store and reattaches to the pods
// that survived the last daemon (watch.go: recover); Serve starts the
// streaming server, listens on the socket (its directory created 0700, a stale socket left by a dead daemon removed, a live one
// refused) and serves until its context is done; then it stops accepting,
// waits for in-flight calls (up to ShutdownTimeout, then cancels them),
// stops the watchers and closes the image store. Pods are not touched by
// a shutdown: their sentries and gofers keep running, and logs keep
// flowing, since the sentry writes them.
//
// # Locking
//
// Server.mu guards the runtime config set by UpdateRuntimeConfig, the
// streaming server and the watcher table. Pod and container operations are serialised per object
// by podLocks and ctrLocks (a pod's lock before its containers' locks);
// the stores do their own locking and are always taken last.
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
	"k8s.io/cri-streaming/pkg/streaming"

	"github.com/runsc-cri/runsc-cri/cri/config"
	"github.com/runsc-cri/runsc-cri/cri/images"
	"github.com/runsc-cri/runsc-cri/cri/network"
	"github.com/runsc-cri/runsc-cri/cri/sandbox"
	"github.com/runsc-cri/runsc-cri/cri/store"
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
	// platforms are the sentry platforms the binary has (WithPlatforms).
	platforms []string
	images    *images.Store

	store  *store.Store
	runner *sandbox.Runner
	// net sets up pod networks with CNI (cri/network).
	net    *network.Manager
	events events
	inject injectFault

	podLocks, ctrLocks keyedMutex

	// stream is the streaming server (Exec), set by Serve. Guarded by mu.
	stream streaming.Server

	// watchCtx ends the watchers at shutdown; watchWG counts them.
	watchCtx    context.Context
	watchCancel context.CancelFunc
	watchWG     sync.WaitGroup

	mu sync.Mutex
	// podCIDR is the node's pod CIDR from UpdateRuntimeConfig. Guarded
	// by mu.
	podCIDR string
	// exited has one channel per watched container, closed when its
	// exit is recorded. Guarded by mu.
	exited map[string]chan struct{}
}

// Option configures New.
type Option func(*Server)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithVersion sets the runtime version reported by Version.
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// WithBinary sets the runsc-cri executable started as sentry and gofer
// (default: this process's executable).
func WithBinary(path string) Option { return func(s *Server) { s.runner.Binary = path } }

// withFaults injects failures into RunPodSandbox and CreateContainer
// (tests).
func withFaults(f injectFault) Option { return func(s *Server) { s.inject = f } }

// New opens the image store under cfg.Root and returns a server ready to
// Serve.
func New(ctx context.Context, cfg config.Config, opts ...Option) (*Server, error) {
	s := &Server{cfg: cfg, log: slog.Default(), version: "0.1.0-dev", runner: &sandbox.Runner{},
		platforms: []string{"ptrace"},
		exited:    map[string]chan struct{}{}}
	for _, o := range opts {
		o(s)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s.cfg = cfg
	s.runner.Log = s.log
	if s.runner.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		s.runner.Binary = exe
	}
	for _, d := range []string{podsDir, containersDir, socketsDir} {
		if err := os.MkdirAll(filepath.Join(cfg.Root, d), 0o700); err != nil {
			return nil, err
		}
	}
	if s.net == nil {
		nm, err := network.New(network.Options{ConfDir: cfg.CNIConfDir, BinDirs: cfg.CNIBinDirs(), Root: cfg.Root, Log: s.log})
		if err != nil {
			return nil, err
		}
		s.net = nm
	}
	ps, err := store.Open(filepath.Join(cfg.Root, stateDir))
	if err != nil {
		return nil, err
	}
	s.store = ps
	st, err := images.Open(ctx, images.Options{
		Root:              filepath.Join(cfg.Root, "images"),
		RegistryConfigDir: cfg.RegistryConfigDir,
		Log:               s.log,
	})
	if err != nil {
		return nil, err
	}
	s.images = st
	s.watchCtx, s.watchCancel = context.WithCancel(context.WithoutCancel(ctx))
	s.recover(ctx)
	return s, nil
}

// Images is the server's image store (for the container side).
func (s *Server) Images() *images.Store { return s.images }

// Serve serves CRI on cfg.Socket until ctx is done, then shuts down
// gracefully and closes the server's store. ready, if not nil, is closed
// once the socket accepts connections.
func (s *Server) Serve(ctx context.Context, ready chan<- struct{}) error {
	defer s.images.Close()
	defer s.stopWatchers()
	l, err := listen(s.cfg.Socket)
	if err != nil {
		return err
	}
	stopStreaming, err := s.startStreaming()
	if err != nil {
		return err
	}
	defer stopStreaming()
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
