package kernel

import "golang.org/x/sys/unix"

// Restart errors: a blocking system call interrupted by a signal returns one
// of these; the task's signal delivery turns it into EINTR or restarts the
// call, as Linux does with the same values.
const (
	// ERESTARTSYS restarts if the handler has SA_RESTART or no handler runs.
	ERESTARTSYS = unix.Errno(512)
	// ERESTARTNOINTR always restarts.
	ERESTARTNOINTR = unix.Errno(513)
	// ERESTARTNOHAND restarts only if no handler runs.
	ERESTARTNOHAND = unix.Errno(514)
	// ERESTARTRESTARTBLOCK is like ERESTARTNOHAND (the call recomputes its
	// remaining time itself).
	ERESTARTRESTARTBLOCK = unix.Errno(516)
)

// isRestart reports whether e is one of the restart errors.
func isRestart(e unix.Errno) bool {
	return e == ERESTARTSYS || e == ERESTARTNOINTR || e == ERESTARTNOHAND || e == ERESTARTRESTARTBLOCK
}

// ABI values missing from the abi package.
const (
	ssAutoDisarm = 1 << 31
	minSigStkSz  = 2048
	segvMapErr   = 1
	segvAccErr   = 2
)

// negErrno is -errno as a register value.
func negErrno(e unix.Errno) uint64 { return uint64(-int64(e)) }
