package boot

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// The pod's infra process. A pod whose containers share one PID namespace
// (Kubernetes' shareProcessNamespace, CRI NamespaceMode POD) has an infra
// process as its PID 1, as containerd's pause container: it adopts the
// orphans of every container, reaps them (it ignores SIGCHLD, so they
// never linger as zombies), cannot be signalled from inside the pod, and
// the pod ends with it. It runs infraProgram, a few instructions built
// here, from a private tmpfs of its own: no container's files are
// involved, and it holds no file descriptors and no capabilities.

// infraBase is where infraProgram is loaded.
const infraBase = 0x400000

// infraProgram returns a static x86-64 ELF executable that ignores
// SIGCHLD and then waits in pause(2) forever:
//
//	lea  rsi, [rip+act]   ; struct sigaction {SIG_IGN, 0, 0, 0}
//	mov  edi, 17          ; SIGCHLD
//	xor  edx, edx         ; no old action
//	mov  r10d, 8          ; sigset size
//	mov  eax, 13          ; rt_sigaction
//	syscall
//	loop: mov eax, 34     ; pause
//	syscall
//	jmp  loop
//	act: dq 1, 0, 0, 0
func infraProgram() []byte {
	code := []byte{
		0x48, 0x8d, 0x35, 0x1d, 0x00, 0x00, 0x00, // lea rsi, [rip+29]
		0xbf, 0x11, 0x00, 0x00, 0x00, // mov edi, 17
		0x31, 0xd2, // xor edx, edx
		0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // mov r10d, 8
		0xb8, 0x0d, 0x00, 0x00, 0x00, // mov eax, 13
		0x0f, 0x05, // syscall
		0xb8, 0x22, 0x00, 0x00, 0x00, // loop: mov eax, 34
		0x0f, 0x05, // syscall
		0xeb, 0xf7, // jmp loop
	}
	act := make([]byte, 32)
	binary.LittleEndian.PutUint64(act, 1) // sa_handler = SIG_IGN
	code = append(code, act...)

	const ehSize, phSize = 64, 56
	total := uint64(ehSize + phSize + len(code))
	b := make([]byte, ehSize+phSize, total)
	le := binary.LittleEndian
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */})
	le.PutUint16(b[16:], 2)                       // ET_EXEC
	le.PutUint16(b[18:], 0x3e)                    // EM_X86_64
	le.PutUint32(b[20:], 1)                       // EV_CURRENT
	le.PutUint64(b[24:], infraBase+ehSize+phSize) // entry: the code
	le.PutUint64(b[32:], ehSize)                  // program headers
	le.PutUint16(b[52:], ehSize)
	le.PutUint16(b[54:], phSize)
	le.PutUint16(b[56:], 1) // one program header
	ph := b[ehSize:]
	le.PutUint32(ph[0:], 1)          // PT_LOAD
	le.PutUint32(ph[4:], 5)          // PF_R|PF_X
	le.PutUint64(ph[16:], infraBase) // p_vaddr
	le.PutUint64(ph[24:], infraBase) // p_paddr
	le.PutUint64(ph[32:], total)     // p_filesz
	le.PutUint64(ph[40:], total)     // p_memsz
	le.PutUint64(ph[48:], 0x1000)    // p_align
	return append(b, code...)
}

// startInfra starts the infra process as the pod kernel's init (PID 1).
// It must run before any container process exists.
func (p *Pod) startInfra() error {
	v := p.m.v
	root, err := p.mountHidden("/.infra", tmpfs.New(v, p.m.mf, tmpfs.Options{RootMode: 0o755}), "none", vfs.MountFlags{NoDev: true, NoSuid: true})
	if err != nil {
		return fmt.Errorf("infra process: %w", err)
	}
	defer root.DecRef()
	pop := &vfs.PathOperation{Root: root, Start: root, Path: "/pause"}
	f, err := v.OpenAt(rootCtx, pop, vfs.OpenOptions{Flags: unix.O_CREAT | unix.O_WRONLY | unix.O_EXCL, Mode: 0o555})
	if err != nil {
		return fmt.Errorf("infra process: %w", err)
	}
	_, err = f.Write(rootCtx, [][]byte{infraProgram()})
	f.DecRef(rootCtx)
	if err != nil {
		return fmt.Errorf("infra process: %w", err)
	}
	fsc := vfs.NewFSContext(root, root)
	fdt := vfs.NewFDTable()
	_, err = p.m.k.StartInit(kernel.ProcessArgs{
		Filename:    "/pause",
		Argv:        []string{"/pause"},
		Credentials: auth.NewCredentials(0, 0, nil, 0),
		FDTable:     fdt,
		FSContext:   fsc,
		Umask:       0o022,
	})
	if err != nil {
		fsc.DecRef()
		fdt.DecRef()
		return fmt.Errorf("infra process: %w", err)
	}
	return nil
}
