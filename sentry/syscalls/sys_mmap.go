package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/mm"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_MMAP:       {Handler: Mmap, Support: Full},
		unix.SYS_MUNMAP:     {Handler: Munmap, Support: Full},
		unix.SYS_MPROTECT:   {Handler: Mprotect, Support: Full},
		unix.SYS_BRK:        {Handler: Brk, Support: Full},
		unix.SYS_MREMAP:     {Handler: Mremap, Support: Full},
		unix.SYS_MADVISE:    {Handler: Madvise, Support: Partial, Note: "DONTNEED/FREE/DONTFORK/DOFORK act; other advice is accepted and ignored"},
		unix.SYS_MSYNC:      {Handler: Msync, Support: Full},
		unix.SYS_MINCORE:    {Handler: Mincore, Support: Full},
		unix.SYS_MLOCK:      {Handler: Mlock, Support: Partial, Note: "memory is never swapped; ranges are only validated"},
		unix.SYS_MLOCK2:     {Handler: Mlock, Support: Partial, Note: "as mlock"},
		unix.SYS_MUNLOCK:    {Handler: Munlock, Support: Partial, Note: "as mlock"},
		unix.SYS_MLOCKALL:   {Handler: Mlockall, Support: Partial, Note: "accepted; memory is never swapped"},
		unix.SYS_MUNLOCKALL: {Handler: Mlockall, Support: Partial, Note: "accepted"},
	})
}

// Mmap implements Linux syscall mmap(2).
func Mmap(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	prot, flags, fd := int(a.Int(2)), int(a.Int(3)), a.Int(4)
	off := uint64(a[5])
	o := mm.MMapOpts{Addr: a[0], Length: a[1], Offset: off, Prot: prot, Flags: flags}
	if flags&linux.MAP_ANONYMOUS == 0 {
		f, err := getFileForMmap(t, fd, prot, flags)
		if err != nil {
			return 0, err
		}
		defer f.release()
		if f.devZero {
			o.Flags |= linux.MAP_ANONYMOUS
			o.Offset = 0
			return t.MemoryManager().MMap(o)
		}
		o.Mappable = f.mappable
		o.Name = f.name
		o.Dev, o.Ino = f.dev, f.ino
	}
	return t.MemoryManager().MMap(o)
}

// Munmap implements Linux syscall munmap(2).
func Munmap(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, t.MemoryManager().MUnmap(a[0], a[1])
}

// Mprotect implements Linux syscall mprotect(2).
func Mprotect(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, t.MemoryManager().MProtect(a[0], a[1], int(a.Int(2)))
}

// Brk implements Linux syscall brk(2).
func Brk(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	addr, _ := t.MemoryManager().Brk(a[0])
	return addr, nil
}

// Mremap implements Linux syscall mremap(2).
func Mremap(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return t.MemoryManager().MRemap(a[0], a[1], a[2], int(a.Int(3)), a[4])
}

// Madvise implements Linux syscall madvise(2).
func Madvise(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, t.MemoryManager().MAdvise(a[0], a[1], int(a.Int(2)))
}

// Msync implements Linux syscall msync(2).
func Msync(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, t.MemoryManager().MSync(a[0], a[1], int(a.Int(2)))
}

// Mincore implements Linux syscall mincore(2).
func Mincore(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	vec, err := t.MemoryManager().MinCore(a[0], a[1])
	if err != nil {
		return 0, err
	}
	if _, err := t.CopyOut(a[2], vec); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

// Mlock implements Linux syscalls mlock(2) and mlock2(2).
func Mlock(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, t.MemoryManager().MLock(a[0], a[1])
}

// Munlock implements Linux syscall munlock(2).
func Munlock(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, t.MemoryManager().MUnlock(a[0], a[1])
}

// Mlockall implements Linux syscalls mlockall(2) and munlockall(2).
func Mlockall(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, nil
}
