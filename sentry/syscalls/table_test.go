package syscalls

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestTableConsistent checks the table against its handlers: every
// supported or partial call has a handler, every ENOSYS row has none, and
// every row's name is the Linux name of its number.
func TestTableConsistent(t *testing.T) {
	rows := Rows()
	if len(rows) < 300 {
		t.Fatalf("only %d rows in the table", len(rows))
	}
	for _, r := range rows {
		if want, ok := syscallNames[r.Number]; ok && r.Name != want {
			t.Errorf("syscall %d is named %q in the table, %q in Linux", r.Number, r.Name, want)
		}
		switch r.Support {
		case Full, Partial:
			if r.Handler == nil {
				t.Errorf("%s (%d) is %s but has no handler", r.Name, r.Number, r.Support)
			}
		case Unimplemented:
			if r.Handler != nil {
				t.Errorf("%s (%d) is ENOSYS but has a handler", r.Name, r.Number)
			}
		}
		if r.Support == Partial && r.Note == "" {
			t.Errorf("%s (%d) is partial without a note saying what is missing", r.Name, r.Number)
		}
	}
}

// TestCoreCallsPresent guards against a family file dropping out of the
// build: the calls every program makes must be in the table.
func TestCoreCallsPresent(t *testing.T) {
	for _, nr := range []uintptr{
		unix.SYS_READ, unix.SYS_WRITE, unix.SYS_OPENAT, unix.SYS_CLOSE, unix.SYS_MMAP,
		unix.SYS_BRK, unix.SYS_RT_SIGACTION, unix.SYS_CLONE, unix.SYS_EXECVE, unix.SYS_WAIT4,
		unix.SYS_EXIT_GROUP, unix.SYS_FUTEX, unix.SYS_NEWFSTATAT, unix.SYS_PIPE2,
		unix.SYS_EPOLL_WAIT, unix.SYS_SOCKETPAIR, unix.SYS_CLOCK_NANOSLEEP,
	} {
		e, ok := Lookup(nr)
		if !ok || e.Handler == nil {
			t.Errorf("syscall %d (%s) has no handler", nr, syscallNames[nr])
		}
	}
}
