package loader

import (
	"debug/elf"
	"encoding/binary"
	"io"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/mm"
)

// Auxiliary vector keys (include/uapi/linux/auxvec.h).
const (
	AT_NULL          = 0
	AT_PHDR          = 3
	AT_PHENT         = 4
	AT_PHNUM         = 5
	AT_PAGESZ        = 6
	AT_BASE          = 7
	AT_FLAGS         = 8
	AT_ENTRY         = 9
	AT_UID           = 11
	AT_EUID          = 12
	AT_GID           = 13
	AT_EGID          = 14
	AT_PLATFORM      = 15
	AT_HWCAP         = 16
	AT_CLKTCK        = 17
	AT_SECURE        = 23
	AT_RANDOM        = 25
	AT_HWCAP2        = 26
	AT_EXECFN        = 31
	AT_SYSINFO_EHDR  = 33
	AT_MINSIGSTKSZ   = 51
	maxArgStrLen     = 32 * pageSize // MAX_ARG_STRLEN
	platformString   = "x86_64"
	defaultMinSigStk = 2048
)

// randomUintptr reads a random value below n (n a power of two).
func randomUintptr(r io.Reader, n uintptr) uintptr {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0
	}
	return uintptr(binary.LittleEndian.Uint64(b[:])) & (n - 1)
}

// load maps the ELF executable f (already parsed as ei), its interpreter and
// the stack.
func load(m *mm.MemoryManager, a Args, f File, ei *elfInfo, filename string, argv []string) (Result, error) {
	lo, hi := m.Bounds()
	stackSize := uintptr(a.StackSize)
	if stackSize == 0 {
		stackSize = defaultStack
	}
	stackSize = (stackSize + pageMask) &^ pageMask
	if stackSize < 16*pageSize || stackSize > (hi-lo)/4 {
		return Result{}, unix.ENOMEM
	}
	// Argument strings may take a quarter of the stack, like Linux.
	strLen := len(a.Filename) + 1
	for _, s := range append(append([]string(nil), argv...), a.Envv...) {
		if len(s)+1 > maxArgStrLen {
			return Result{}, unix.E2BIG
		}
		strLen += len(s) + 1
	}
	if uintptr(strLen) > stackSize/4 {
		return Result{}, unix.E2BIG
	}

	// The stack first, so that the mmap base sits below it.
	var stackRnd, dynRnd uintptr
	if !a.DisableASLR {
		stackRnd = randomUintptr(a.Random, 1<<14) * pageSize // < 64 MiB
		dynRnd = randomUintptr(a.Random, 1<<16) * pageSize   // < 256 MiB
	}
	stackTop := hi - stackRnd
	stackProt := unix.PROT_READ | unix.PROT_WRITE
	if ei.execStack {
		stackProt |= unix.PROT_EXEC
	}
	if _, err := m.MMap(mm.MMapOpts{
		Addr:   stackTop - stackSize,
		Length: stackSize,
		Prot:   stackProt,
		Flags:  unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED | unix.MAP_GROWSDOWN,
		Name:   "[stack]",
	}); err != nil {
		return Result{}, err
	}
	const stackGuardGap = 1 << 20
	if base := stackTop - stackSize - stackGuardGap; base < m.MmapBase() {
		m.SetMmapBase(base)
	}

	bias, err := mapImage(m, f, ei, true, dynRnd)
	if err != nil {
		return Result{}, err
	}
	res := Result{
		ExecFile: f,
		Filename: filename,
		Argv:     argv,
		LoadBias: bias,
		BrkStart: bias + uintptr(ei.maxV),
		Entry:    bias + uintptr(ei.entry),
	}
	if ei.interp != "" {
		res.Interpreter = ei.interp
		inf, err := a.Opener(ei.interp)
		if err != nil {
			return Result{}, err
		}
		buf := make([]byte, binprmBufSize)
		n, _ := inf.ReadAt(buf, 0)
		iei, err := parseELF(inf, buf[:n])
		if err != nil {
			if err == unix.ENOEXEC {
				err = unix.ELIBBAD
			}
			return Result{}, err
		}
		if iei.interp != "" {
			return Result{}, unix.ELIBBAD
		}
		ibias, err := mapImage(m, inf, iei, false, 0)
		if err != nil {
			return Result{}, err
		}
		defer prefaultImage(m, iei, ibias)
		res.InterpBias = ibias
		res.Entry = ibias + uintptr(iei.entry)
	}
	m.SetBrkStart(res.BrkStart)

	hwcap := a.HWCap
	if hwcap == 0 {
		hwcap = hostHWCap()
	}
	minSig := a.MinSigStackSize
	if minSig == 0 {
		minSig = defaultMinSigStk
	}
	secure := uint64(0)
	if a.Secure {
		secure = 1
	}

	// Strings, top down: 8 zero bytes, AT_EXECFN, then argv and envp
	// strings in order.
	p := stackTop - 8
	execfn := p - uintptr(len(a.Filename)+1)
	p = execfn
	var block []byte
	for _, s := range argv {
		block = append(append(block, s...), 0)
	}
	argvLen := len(block)
	for _, s := range a.Envv {
		block = append(append(block, s...), 0)
	}
	strStart := p - uintptr(len(block))
	res.ArgvStart, res.ArgvEnd = strStart, strStart+uintptr(argvLen)
	res.EnvStart, res.EnvEnd = res.ArgvEnd, strStart+uintptr(len(block))
	if _, err := m.CopyOut(strStart, block); err != nil {
		return Result{}, err
	}
	if _, err := m.CopyOut(execfn, append([]byte(a.Filename), 0)); err != nil {
		return Result{}, err
	}
	p = strStart
	if !a.DisableASLR {
		p -= randomUintptr(a.Random, 8192)
	}
	p &^= 15
	p -= uintptr(len(platformString) + 1)
	platformAddr := p
	if _, err := m.CopyOut(platformAddr, append([]byte(platformString), 0)); err != nil {
		return Result{}, err
	}
	var rb [16]byte
	if _, err := io.ReadFull(a.Random, rb[:]); err != nil {
		return Result{}, unix.EIO
	}
	p -= 16
	randomAddr := p
	if _, err := m.CopyOut(randomAddr, rb[:]); err != nil {
		return Result{}, err
	}

	auxv := []uint64{
		AT_MINSIGSTKSZ, minSig,
		AT_HWCAP, hwcap,
		AT_PAGESZ, pageSize,
		AT_CLKTCK, 100,
		AT_PHDR, uint64(ei.phdrAddr(bias)),
		AT_PHENT, elfPhentSize,
		AT_PHNUM, uint64(ei.phnum),
		AT_BASE, uint64(res.InterpBias),
		AT_FLAGS, 0,
		AT_ENTRY, uint64(bias) + ei.entry,
		AT_UID, uint64(a.UID),
		AT_EUID, uint64(a.EUID),
		AT_GID, uint64(a.GID),
		AT_EGID, uint64(a.EGID),
		AT_SECURE, secure,
		AT_RANDOM, uint64(randomAddr),
		AT_HWCAP2, a.HWCap2,
		AT_EXECFN, uint64(execfn),
		AT_PLATFORM, uint64(platformAddr),
		AT_NULL, 0,
	}
	if vdso := m.VDSOBase(); vdso != 0 {
		// First, as Linux's ARCH_DLINFO puts it.
		auxv = append([]uint64{AT_SYSINFO_EHDR, uint64(vdso)}, auxv...)
	}
	res.Auxv = auxv

	// argc, argv[], NULL, envp[], NULL, auxv; rsp 16-byte aligned.
	words := 1 + len(argv) + 1 + len(a.Envv) + 1 + len(auxv)
	sp := (p - uintptr(words*8)) &^ 15
	if sp < stackTop-stackSize {
		return Result{}, unix.E2BIG
	}
	out := make([]byte, 0, words*8)
	put := func(v uint64) { out = binary.LittleEndian.AppendUint64(out, v) }
	put(uint64(len(argv)))
	off := strStart
	for _, s := range argv {
		put(uint64(off))
		off += uintptr(len(s) + 1)
	}
	put(0)
	for _, s := range a.Envv {
		put(uint64(off))
		off += uintptr(len(s) + 1)
	}
	put(0)
	for _, v := range auxv {
		put(v)
	}
	if _, err := m.CopyOut(sp, out); err != nil {
		return Result{}, err
	}
	res.StackPointer = sp
	m.SetArgvEnv(res.ArgvStart, res.ArgvEnd, res.EnvStart, res.EnvEnd)
	m.SetAuxv(auxv)
	prefaultImage(m, ei, bias)
	// The stack from a little below the initial rsp (the program's first
	// frames) to its top.
	m.Prefault(max(sp-prefaultStackBelow, stackTop-stackSize), stackTop-max(sp-prefaultStackBelow, stackTop-stackSize), true)
	return res, nil
}

// Prefaulting. Every page the new program touches first costs a fault; on
// the ptrace platform a fault is a stop and a resume of the program on top
// of the mapping, so the loader maps what every program touches at once
// (mm.Prefault) in one go per VMA: the read-only segments of the
// executable and the interpreter whole up to prefaultSegment bytes (else
// their first prefaultLarge bytes; the rest faults in windows), the
// writable ones up to prefaultWritable bytes and copied (data, the start of
// bss: written at once by every libc), and the top of the stack. Best
// effort: errors are left to the faults.
const (
	prefaultSegment    = 2 << 20
	prefaultLarge      = 512 << 10
	prefaultWritable   = 64 << 10
	prefaultStackBelow = 16 << 10
)

// prefaultImage prefaults the PT_LOAD segments of an image loaded at bias.
func prefaultImage(m *mm.MemoryManager, ei *elfInfo, bias uintptr) {
	for _, p := range ei.loads {
		start := (bias + uintptr(p.Vaddr)) &^ pageMask
		end := (bias + uintptr(p.Vaddr) + uintptr(p.Memsz) + pageMask) &^ pageMask
		if end <= start {
			continue
		}
		write := elf.ProgFlag(p.Flags)&elf.PF_W != 0
		n := end - start
		switch {
		case write:
			n = min(n, prefaultWritable)
		case n > prefaultSegment:
			n = prefaultLarge
		}
		m.Prefault(start, n, write)
	}
}
