package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// cloneArgs builds a struct clone_args of size bytes.
func cloneArgs(size int, flags, exitSig, stack, stackSize, setTID uint64) []byte {
	b := make([]byte, size)
	le := binary.LittleEndian
	put := func(off int, v uint64) {
		if off+8 <= size {
			le.PutUint64(b[off:], v)
		}
	}
	put(0, flags)
	put(32, exitSig)
	put(40, stack)
	put(48, stackSize)
	put(64, setTID)
	return b
}

// FuzzDecodeCloneArgs feeds clone3's struct parser hostile structs: it must
// never panic, and what it accepts must be sane (no stack pointer that
// wrapped around or left user space, a valid exit signal, no signal in the
// flags, nothing it does not understand in a longer struct). go test runs
// the seed corpus; go test -fuzz FuzzDecodeCloneArgs ./sentry/syscalls
// searches further.
func FuzzDecodeCloneArgs(f *testing.F) {
	f.Add(cloneArgs(64, 0, uint64(linux.SIGCHLD), 0, 0, 0))
	f.Add(cloneArgs(88, linux.CLONE_VM|linux.CLONE_THREAD|linux.CLONE_SIGHAND, 0, 0x7f0000000000, 0x10000, 0))
	f.Add(cloneArgs(64, 0, 0, 0xfffffffffffff000, 0x2000, 0))         // wraps
	f.Add(cloneArgs(64, 0, 0, 0x7ffffffff000, 0x2000, 0))             // crosses the top of user space
	f.Add(cloneArgs(64, 0, 65, 0, 0, 0))                              // bad signal
	f.Add(cloneArgs(64, 0x11, 0, 0, 0, 0))                            // signal in flags
	f.Add(cloneArgs(80, 0, 0, 0, 0, 0x1000))                          // set_tid
	f.Add(append(cloneArgs(88, 0, 0, 0, 0, 0), make([]byte, 100)...)) // longer, zeros
	f.Add(append(cloneArgs(88, 0, 0, 0, 0, 0), 0, 0, 1))              // longer, not zeros
	f.Add(cloneArgs(64, linux.CLONE_INTO_CGROUP, 0, 0, 0, 0))
	f.Add(cloneArgs(72, 0, 0, 0x1000, 0, 0)) // stack without a size
	f.Fuzz(func(t *testing.T, buf []byte) {
		if len(buf) > 4096 {
			return
		}
		o, err := decodeCloneArgs(buf)
		if len(buf) < 64 {
			if err != unix.EINVAL {
				t.Fatalf("%d bytes: err %v, want EINVAL", len(buf), err)
			}
			return
		}
		if err != nil {
			if err != unix.EINVAL && err != unix.E2BIG {
				t.Fatalf("err %v, want EINVAL or E2BIG", err)
			}
			return
		}
		le := binary.LittleEndian
		if o.Flags&0xff != 0 || o.ExitSignal > linux.SignalMaximum || o.ExitSignal < 0 {
			t.Fatalf("accepted flags %#x exit signal %d", o.Flags, o.ExitSignal)
		}
		if stack := le.Uint64(buf[40:]); stack != 0 && (uint64(o.Stack) <= stack || o.Stack > maxUserAddr) {
			t.Fatalf("stack %#x size %#x gave stack pointer %#x", stack, le.Uint64(buf[48:]), o.Stack)
		}
		for i := cloneArgsSize; i < len(buf); i++ {
			if buf[i] != 0 {
				t.Fatalf("accepted a nonzero byte at %d beyond the known struct", i)
			}
		}
	})
}
