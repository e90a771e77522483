package ptrace

import (
	"encoding/binary"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
)

// Batches. Running one system call in a stub (inject) costs a resume and a
// stop of a stub thread plus four ptrace calls. When several calls are
// known at once (the mappings queued before the first context enters an
// address space), they run as one batch: the sentry writes them into the
// stub's batch page and injects one jump to stubBatch, which makes them in
// a loop. The batch pages are pages of one memfd of the platform (the
// batch file), one per stub, mapped read-only in the stub at stubEnd (above
// MaxUserAddress, where the application cannot map or unmap anything, and
// it cannot write them) and read-write in the sentry.
const (
	batchRecord = 64                     // bytes per call: nr, six arguments, unused
	batchMax    = pageSize / batchRecord // calls per batch
	batchSlots  = 1 << 14                // pages of the batch file (stubs alive at once)
)

// batchFile is the platform's batch file.
type batchFile struct {
	fd  int
	mem []byte // the sentry's mapping of the whole file

	mu   sync.Mutex
	free []int // released slots; guarded by mu
	next int   // slots below next were handed out; guarded by mu
}

func newBatchFile() (*batchFile, error) {
	fd, err := unix.MemfdCreate("runsc-batch", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create for batches: %w", err)
	}
	if err := unix.Ftruncate(fd, batchSlots*pageSize); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("batch file: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, batchSlots*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("batch file: %w", err)
	}
	return &batchFile{fd: fd, mem: mem}, nil
}

func (b *batchFile) close() {
	unix.Munmap(b.mem)
	unix.Close(b.fd)
}

// alloc returns a free slot, or -1.
func (b *batchFile) alloc() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.free); n > 0 {
		s := b.free[n-1]
		b.free = b.free[:n-1]
		return s
	}
	if b.next == batchSlots {
		return -1
	}
	b.next++
	return b.next - 1
}

func (b *batchFile) release(slot int) {
	if slot < 0 {
		return
	}
	b.mu.Lock()
	b.free = append(b.free, slot)
	b.mu.Unlock()
}

// mapSlot maps slot's page at stubEnd in the stub whose control thread
// (traced by the caller) is pid.
func (b *batchFile) mapSlot(pid, slot int) error {
	_, err := injectSyscall(pid, unix.SYS_MMAP, stubEnd, pageSize, unix.PROT_READ,
		unix.MAP_SHARED|unix.MAP_FIXED, stubBatchFD, uintptr(slot)*pageSize)
	return err
}

// run makes calls in tid (stopped, traced by the caller), whose stub maps
// slot, in batches.
func (b *batchFile) run(tid, slot int, calls []stubCall) error {
	page := b.mem[slot*pageSize : (slot+1)*pageSize]
	for len(calls) > 0 {
		n := min(len(calls), batchMax)
		for i, c := range calls[:n] {
			r := page[i*batchRecord:]
			binary.LittleEndian.PutUint64(r, uint64(c.nr))
			for j, v := range c.args {
				binary.LittleEndian.PutUint64(r[8+8*j:], uint64(v))
			}
		}
		regs := injectRegs(stubBatch, 0, [6]uintptr{})
		regs.Rbx, regs.R12 = stubEnd, uint64(n)
		var out arch.Registers
		if err := injectRegsOut(tid, &regs, stubBatchTrap, &out); err != nil {
			return err
		}
		if left := int(out.R12); left != 0 {
			c := calls[n-left]
			return fmt.Errorf("ptrace: batched stub call %d(%#x, %#x): %w", c.nr, c.args[0], c.args[1], unix.Errno(-int64(out.Rax)))
		}
		calls = calls[n:]
	}
	return nil
}
