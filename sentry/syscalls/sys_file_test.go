package syscalls

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestFileSyscallsRegistered checks that the file-system families merge
// into the table without duplicates and have handlers.
func TestFileSyscallsRegistered(t *testing.T) {
	Rows() // panics on a duplicate registration
	for _, nr := range []uintptr{
		unix.SYS_OPENAT, unix.SYS_READ, unix.SYS_WRITE, unix.SYS_PREADV2, unix.SYS_STATX,
		unix.SYS_GETDENTS64, unix.SYS_FCNTL, unix.SYS_IOCTL, unix.SYS_PIPE2, unix.SYS_GETCWD,
		unix.SYS_RENAMEAT2, unix.SYS_UTIMENSAT, unix.SYS_COPY_FILE_RANGE, unix.SYS_CLOSE_RANGE, 452,
	} {
		e, ok := Lookup(nr)
		if !ok || e.Handler == nil {
			t.Errorf("syscall %d (%s) has no handler", nr, e.Name)
		}
	}
}
