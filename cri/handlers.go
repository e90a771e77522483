package cri

import (
	"fmt"
	"os"
	"slices"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Runtime handlers (RuntimeClass handler names). "runsc" (and "", the
// CRI's name for the default) runs pods on the configured platform;
// "runsc-ptrace" and "runsc-kvm" pin a platform. runsc-kvm is offered only
// where the binary has the KVM platform and /dev/kvm exists.
const (
	HandlerDefault = "runsc"
	HandlerPtrace  = "runsc-ptrace"
	HandlerKVM     = "runsc-kvm"
)

// WithPlatforms names the sentry platforms the binary has (cmd/runsc-cri
// passes what registered itself); the default is ptrace only.
func WithPlatforms(names []string) Option {
	return func(s *Server) { s.platforms = append([]string(nil), names...) }
}

// kvmBuilt reports whether the binary has the KVM platform.
func (s *Server) kvmBuilt() bool { return slices.Contains(s.platforms, "kvm") }

// kvmAvailable reports whether the KVM platform is built and /dev/kvm
// exists.
func (s *Server) kvmAvailable() bool {
	if !s.kvmBuilt() {
		return false
	}
	_, err := os.Stat("/dev/kvm")
	return err == nil
}

// handlerPlatform maps a runtime handler to a sentry platform. An unknown
// handler is an ErrInvalidArgument.
func (s *Server) handlerPlatform(handler string) (string, error) {
	switch handler {
	case "", HandlerDefault:
		return s.cfg.Platform, nil
	case HandlerPtrace:
		return "ptrace", nil
	case HandlerKVM:
		if !s.kvmBuilt() {
			return "", fmt.Errorf("runtime handler %q: the KVM platform is not implemented yet: %w", handler, ErrUnimplemented)
		}
		if s.kvmAvailable() {
			return "kvm", nil
		}
		return "", fmt.Errorf("runtime handler %q: /dev/kvm is absent on this node: %w", handler, ErrFailedPrecondition)
	}
	return "", fmt.Errorf("runtime handler %q: unknown (want %s, %s or %s): %w", handler, HandlerDefault, HandlerPtrace, HandlerKVM, ErrInvalidArgument)
}

// runtimeHandlers lists the handlers for Status.
func (s *Server) runtimeHandlers() []*runtimeapi.RuntimeHandler {
	// Volumes are bound on the host inside the container's rootfs, so a
	// recursive read-only mount is the kernel's (mount_setattr with
	// AT_RECURSIVE) and the gofer sees it; user namespaces are not
	// offered (the sandbox has one user namespace of its own).
	f := func() *runtimeapi.RuntimeHandlerFeatures {
		return &runtimeapi.RuntimeHandlerFeatures{RecursiveReadOnlyMounts: true, UserNamespaces: false}
	}
	hs := []*runtimeapi.RuntimeHandler{
		{Name: "", Features: f()},
		{Name: HandlerDefault, Features: f()},
		{Name: HandlerPtrace, Features: f()},
	}
	if s.kvmAvailable() {
		hs = append(hs, &runtimeapi.RuntimeHandler{Name: HandlerKVM, Features: f()})
	}
	return hs
}
