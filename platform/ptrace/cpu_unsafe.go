package ptrace

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// CPU binding. A stub thread and its tracer hand the CPU to each other at
// every stop and resume; when both are on the same CPU that is a plain
// context switch, across CPUs it is a cross-CPU wakeup (an IPI, costly in a
// VM). So before resuming a stub thread, Switch binds it to the CPU its
// tracer runs on (only when that changed). The tracer itself is not bound:
// the host may move it, and the stub thread follows at the next Switch.

func cpuidRDPID() bool
func rdpid() uint32

// useRDPID says currentCPU may read the CPU number with RDPID (checked
// against getcpu(2) once, in case TSC_AUX is not what Linux sets).
var useRDPID = checkRDPID()

func checkRDPID() bool {
	if !cpuidRDPID() {
		return false
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := 0; i < 3; i++ {
		before := getcpuSyscall()
		got := int(rdpid() & 0xfff)
		after := getcpuSyscall()
		if before == after && got == before {
			return true
		}
	}
	return false
}

// currentCPU returns the CPU the calling thread runs on (it may move at
// any time: this is a hint).
func currentCPU() int {
	if useRDPID {
		return int(rdpid() & 0xfff)
	}
	return getcpuSyscall()
}

func getcpuSyscall() int {
	var cpu uint32
	unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0)
	return int(cpu)
}

// maxBindCPU bounds the CPU numbers bindToCPU handles (a 1024-bit mask, as
// glibc's cpu_set_t).
const maxBindCPU = 1024

// bindToCPU restricts thread tid to cpu.
func bindToCPU(tid, cpu int) unix.Errno {
	if cpu < 0 || cpu >= maxBindCPU {
		return unix.EINVAL
	}
	var mask [maxBindCPU / 64]uint64
	mask[cpu/64] = 1 << (cpu % 64)
	_, _, e := unix.RawSyscall(unix.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
	return e
}
