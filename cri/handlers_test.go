package cri

import (
	"errors"
	"testing"
)

// TestKVMHandlerNeedsThePlatform: runsc-kvm is neither offered nor accepted
// when the binary has no KVM platform, whatever /dev/kvm says.
func TestKVMHandlerNeedsThePlatform(t *testing.T) {
	s := &Server{platforms: []string{"ptrace"}}
	for _, h := range s.runtimeHandlers() {
		if h.Name == HandlerKVM {
			t.Fatal("runsc-kvm listed without a KVM platform")
		}
	}
	if _, err := s.handlerPlatform(HandlerKVM); !errors.Is(err, ErrUnimplemented) {
		t.Fatalf("handler runsc-kvm without the platform: %v, want ErrUnimplemented", err)
	}
	if p, err := s.handlerPlatform(HandlerPtrace); err != nil || p != "ptrace" {
		t.Fatalf("runsc-ptrace: %q, %v", p, err)
	}
	if _, err := s.handlerPlatform("nope"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unknown handler: %v, want ErrInvalidArgument", err)
	}
}
