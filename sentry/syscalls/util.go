package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/kernel"
)

// marshaller is a fixed-size ABI struct from gvisor's pkg/abi/linux.
type marshaller interface {
	SizeBytes() int
	MarshalBytes(dst []byte) []byte
}

// unmarshaller is the reading side.
type unmarshaller interface {
	SizeBytes() int
	UnmarshalBytes(src []byte) []byte
}

// copyOutObj writes v to application address addr.
func copyOutObj(t *kernel.Task, addr uintptr, v marshaller) error {
	buf := make([]byte, v.SizeBytes())
	v.MarshalBytes(buf)
	if _, err := t.CopyOut(addr, buf); err != nil {
		return unix.EFAULT
	}
	return nil
}

// copyInObj reads v from application address addr.
func copyInObj(t *kernel.Task, addr uintptr, v unmarshaller) error {
	buf := make([]byte, v.SizeBytes())
	if _, err := t.CopyIn(addr, buf); err != nil {
		return unix.EFAULT
	}
	v.UnmarshalBytes(buf)
	return nil
}

// ABI values missing from the abi package.
const (
	futexLockPI2 = 13
	clockTAI     = 11
)
