package ptrace

import (
	"encoding/binary"
)

// Stub address-space layout. The stub occupies one page just below the top
// of the user address space, the batch page follows it (batch.go), and the
// host's vDSO lies somewhere in the window [vdsoWindowStart, stubStart)
// (vdso.go); the application owns [minUserAddress, vdsoWindowStart).
const (
	// taskSize is Linux's TASK_SIZE on x86-64 with 4-level page tables: the
	// first address a user mapping may not cover.
	taskSize = 0x7ffffffff000
	// stubStart is the address of the stub's code page (MaxUserAddress).
	stubStart = 0x7fffffff0000
	// stubEnd is the end of the stub's page.
	stubEnd = stubStart + pageSize
	// minUserAddress is the lowest address applications may map.
	minUserAddress = 0x10000
	// vdsoWindowStart is MaxUserAddress: the window from there to
	// stubStart holds the host vDSO, at a random page chosen once per
	// platform (see vdso.go). 256 MiB of the 128 TiB address space.
	vdsoWindowStart = stubStart - 256<<20

	pageSize = 4096

	// stubMemFD is the descriptor number of the sentry's memory file in
	// every stub process.
	stubMemFD = 3
	// stubBatchFD is the descriptor of the platform's batch file (see
	// batch.go); each stub maps its page of it, read-only, at stubEnd.
	stubBatchFD = 4
)

// Offsets in the stub page. The ELF and program headers occupy the first
// 120 bytes of the page (the page is the whole ELF file).
const (
	codeOffset   = 0x100 // start of the code
	sigactOffset = 0xf00 // struct sigaction {SIG_IGN, 0, 0, 0} for SIGCHLD
)

// Addresses of the stub's entry points, filled in by buildStub.
var (
	// stubEntry is where the exec'd stub begins: it ignores SIGCHLD, asks
	// for SIGKILL on parent death and traps; the controller then lays out
	// its address space (layoutStub: keep and move the vDSO, unmap the
	// rest) by injection.
	stubEntry uintptr
	// stubSyscall is "syscall; int3": the injection site for plain calls.
	// The trap after the call leaves rip at stubSyscall+3.
	stubSyscall uintptr
	// stubClone is the injection site for clone(CLONE_THREAD...): the parent
	// traps at stubCloneTrap (rip = stubCloneTrap+1 after the trap), the
	// child waits in pause() until its tracer seizes it.
	stubClone, stubCloneTrap uintptr
	// stubFork is the injection site for fork in the master stub: the parent
	// traps at stubForkTrap; the child sets PR_SET_PDEATHSIG(SIGKILL),
	// exits if its parent is no longer the master (whose pid the injector
	// put in r12), then waits in pause() until its tracer seizes it.
	stubFork, stubForkTrap uintptr
	// stubBatch runs the system calls described in the batch page: rbx
	// points at the first record, r12 holds their count (> 0). It stops at
	// the first failure and traps at stubBatchTrap with r12 = the calls
	// left (the failed one included; 0: all done) and rax = the last
	// result.
	stubBatch, stubBatchTrap uintptr
	// stubImage is the whole page: ELF header, program header, code.
	stubImage []byte
)

func init() { stubImage = buildStub() }

// asm is a tiny x86-64 emitter: each method appends one instruction whose
// encoding is given in its comment.
type asm struct{ b []byte }

func (a *asm) pc() uintptr { return stubStart + uintptr(len(a.b)) }

// movEAX: B8 id — mov eax, imm32 (zero-extends into rax).
func (a *asm) movEAX(v uint32) {
	a.b = append(a.b, 0xb8)
	a.b = binary.LittleEndian.AppendUint32(a.b, v)
}

// movEDI: BF id — mov edi, imm32.
func (a *asm) movEDI(v uint32) {
	a.b = append(a.b, 0xbf)
	a.b = binary.LittleEndian.AppendUint32(a.b, v)
}

// movESI: BE id — mov esi, imm32.
func (a *asm) movESI(v uint32) {
	a.b = append(a.b, 0xbe)
	a.b = binary.LittleEndian.AppendUint32(a.b, v)
}

// movR10D: 41 BA id — mov r10d, imm32.
func (a *asm) movR10D(v uint32) {
	a.b = append(a.b, 0x41, 0xba)
	a.b = binary.LittleEndian.AppendUint32(a.b, v)
}

// movRSI64: 48 BE io — mov rsi, imm64.
func (a *asm) movRSI64(v uint64) {
	a.b = append(a.b, 0x48, 0xbe)
	a.b = binary.LittleEndian.AppendUint64(a.b, v)
}

// xorEDI: 31 FF — xor edi, edi.
func (a *asm) xorEDI() { a.b = append(a.b, 0x31, 0xff) }

// xorEDX: 31 D2 — xor edx, edx.
func (a *asm) xorEDX() { a.b = append(a.b, 0x31, 0xd2) }

// syscall: 0F 05.
func (a *asm) syscall() { a.b = append(a.b, 0x0f, 0x05) }

// int3: CC — trap to the tracer (SIGTRAP, rip after the CC).
func (a *asm) int3() { a.b = append(a.b, 0xcc) }

// testEAX: 85 C0 — test eax, eax.
func (a *asm) testEAX() { a.b = append(a.b, 0x85, 0xc0) }

// cmpRAXR12: 4C 39 E0 — cmp rax, r12 (REX.W|REX.R, 39 /r, modrm 11 100 000).
func (a *asm) cmpRAXR12() { a.b = append(a.b, 0x4c, 0x39, 0xe0) }

// jcc8 emits a short jump with opcode op (74 jz, 75 jne, EB jmp) and returns
// the offset of its rel8 byte for patching.
func (a *asm) jcc8(op byte) int { a.b = append(a.b, op, 0); return len(a.b) - 1 }

// patch points the rel8 at off to the current position.
func (a *asm) patch(off int) { a.b[off] = byte(len(a.b) - (off + 1)) }

// jmpBack8: EB cb — jmp rel8 to the absolute page offset target.
func (a *asm) jmpBack8(target int) {
	a.b = append(a.b, 0xeb, 0)
	a.b[len(a.b)-1] = byte(target - len(a.b))
}

// System call numbers and constants the stub uses.
const (
	sysRtSigaction = 13
	sysPause       = 34
	sysGetppid     = 110
	sysPrctl       = 157
	sysExitGroup   = 231
	prSetPdeathsig = 1
	sigKill        = 9
	sigChld        = 17
)

func buildStub() []byte {
	a := &asm{b: make([]byte, codeOffset, pageSize)}
	elfHeader(a.b[:codeOffset])

	// Entry of the exec'd master stub.
	stubEntry = a.pc()
	a.movEAX(sysRtSigaction) // rt_sigaction(SIGCHLD, &{SIG_IGN}, NULL, 8): auto-reap forked stubs
	a.movEDI(sigChld)
	a.movRSI64(stubStart + sigactOffset)
	a.xorEDX()
	a.movR10D(8)
	a.syscall()
	a.movEAX(sysPrctl) // prctl(PR_SET_PDEATHSIG, SIGKILL)
	a.movEDI(prSetPdeathsig)
	a.movESI(sigKill)
	a.syscall()
	a.int3() // ready: report to the tracer

	// Wait loop shared by new threads and forked children: sleep in
	// pause() until the tracer seizes and interrupts us. (A busy loop would
	// compete for the CPU with the very tracer it waits for.)
	wait := len(a.b)
	a.movEAX(sysPause) // pause()
	a.syscall()
	a.jmpBack8(wait)

	// Plain injection site.
	stubSyscall = a.pc()
	a.syscall()
	a.int3()

	// Batch site: records of 8 words (nr, six arguments, unused).
	stubBatch = a.pc()
	loop := len(a.b)
	a.b = append(a.b, 0x48, 0x8b, 0x03)       // mov rax, [rbx]
	a.b = append(a.b, 0x48, 0x8b, 0x7b, 0x08) // mov rdi, [rbx+8]
	a.b = append(a.b, 0x48, 0x8b, 0x73, 0x10) // mov rsi, [rbx+16]
	a.b = append(a.b, 0x48, 0x8b, 0x53, 0x18) // mov rdx, [rbx+24]
	a.b = append(a.b, 0x4c, 0x8b, 0x53, 0x20) // mov r10, [rbx+32]
	a.b = append(a.b, 0x4c, 0x8b, 0x43, 0x28) // mov r8, [rbx+40]
	a.b = append(a.b, 0x4c, 0x8b, 0x4b, 0x30) // mov r9, [rbx+48]
	a.syscall()
	a.b = append(a.b, 0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff) // cmp rax, -4095
	failed := a.jcc8(0x73)                                // jae done
	a.b = append(a.b, 0x48, 0x83, 0xc3, batchRecord)      // add rbx, 64
	a.b = append(a.b, 0x49, 0xff, 0xcc)                   // dec r12
	a.b = append(a.b, 0x75, byte(loop-(len(a.b)+2)))      // jnz loop
	a.patch(failed)
	stubBatchTrap = a.pc()
	a.int3()

	// clone(CLONE_THREAD...) site: the child (rax == 0) waits.
	stubClone = a.pc()
	a.syscall()
	a.testEAX()
	a.b = append(a.b, 0x74, byte(wait-(len(a.b)+2))) // jz wait
	stubCloneTrap = a.pc()
	a.int3()

	// fork site in the master.
	stubFork = a.pc()
	a.syscall()
	a.testEAX()
	child := a.jcc8(0x74) // jz child
	stubForkTrap = a.pc()
	a.int3() // parent: rax = child pid or -errno
	a.patch(child)
	a.movEAX(sysPrctl) // child: prctl(PR_SET_PDEATHSIG, SIGKILL)
	a.movEDI(prSetPdeathsig)
	a.movESI(sigKill)
	a.syscall()
	a.movEAX(sysGetppid) // getppid()
	a.syscall()
	a.cmpRAXR12()          // still the master's child?
	die := a.jcc8(0x75)    // jne die
	a.jmpBack8(wait)       // wait until seized
	a.patch(die)           // die:
	a.movEAX(sysExitGroup) // exit_group(0)
	a.xorEDI()
	a.syscall()

	if len(a.b) > sigactOffset {
		panic("ptrace: stub code too large")
	}
	img := a.b[:pageSize]
	// struct sigaction (kernel layout): handler = SIG_IGN (1), flags,
	// restorer and mask 0.
	binary.LittleEndian.PutUint64(img[sigactOffset:], 1)
	return img
}

// elfHeader writes a minimal static ELF64 executable header and one PT_LOAD
// program header mapping the file's single page at stubStart, R+X.
func elfHeader(b []byte) {
	le := binary.LittleEndian
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */, 1 /* version */})
	le.PutUint16(b[16:], 2)  // e_type = ET_EXEC
	le.PutUint16(b[18:], 62) // e_machine = EM_X86_64
	le.PutUint32(b[20:], 1)  // e_version
	le.PutUint64(b[24:], stubStart+codeOffset)
	le.PutUint64(b[32:], 64) // e_phoff
	le.PutUint16(b[52:], 64) // e_ehsize
	le.PutUint16(b[54:], 56) // e_phentsize
	le.PutUint16(b[56:], 1)  // e_phnum
	ph := b[64:]
	le.PutUint32(ph[0:], 1)          // p_type = PT_LOAD
	le.PutUint32(ph[4:], 5)          // p_flags = R|X
	le.PutUint64(ph[8:], 0)          // p_offset
	le.PutUint64(ph[16:], stubStart) // p_vaddr
	le.PutUint64(ph[24:], stubStart) // p_paddr
	le.PutUint64(ph[32:], pageSize)  // p_filesz
	le.PutUint64(ph[40:], pageSize)  // p_memsz
	le.PutUint64(ph[48:], pageSize)  // p_align
}
