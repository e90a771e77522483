// Package loader loads an executable into a fresh memory manager the way
// Linux's execve does: ELF executables (static, static-PIE, dynamic with a
// PT_INTERP interpreter), "#!" scripts (up to maxScriptDepth levels), and
// the initial stack (argument and environment strings, argv/envp pointer
// arrays and the auxiliary vector).
//
// Layout, as Linux lays it out on x86-64 (without randomisation when
// Args.DisableASLR is set): the stack VMA ends at MaxUserAddress (minus a
// random offset), mmap placement starts below it; ET_EXEC programs load at
// their addresses; ET_DYN programs (PIE and static-PIE) at
// 0x555555554000 (plus a random page offset); the interpreter wherever mmap
// places it (top-down below the stack). The program break starts right
// after the main executable. The vDSO is the platform's (see
// platform.VDSOProvider): the mm shows it in every address space and the
// loader passes its address as AT_SYSINFO_EHDR when there is one (glibc and
// Go then read the clocks through it without a system call).
//
// The loader only reads files through the File interface and maps them
// through their Mappable, so it works for any file system. ELF headers are
// untrusted input: every size and offset is checked, errors are ENOEXEC
// (not an executable we run), EINVAL (inconsistent segments) or ENOMEM (does
// not fit), never a panic.
package loader

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/memmap"
	"github.com/runsc-cri/runsc-cri/sentry/mm"
)

// File is an opened executable (or interpreter).
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	// Mappable returns the file's pages; nil makes the loader copy the
	// segments into anonymous memory instead.
	Mappable() memmap.Mappable
	// Name is the path shown in /proc/self/maps.
	Name() string
	Dev() uint64
	Ino() uint64
}

// Opener resolves and opens a path in the sandbox. Permission checks
// (execute bits, noexec mounts) are the caller's.
type Opener func(path string) (File, error)

// Args describes an exec.
type Args struct {
	// Filename is the path as given to execve; it becomes AT_EXECFN.
	Filename   string
	Argv, Envv []string
	Opener     Opener
	// Credentials for the auxiliary vector.
	UID, EUID, GID, EGID uint32
	Secure               bool
	// HWCap is AT_HWCAP; 0 means CPUID leaf 1 EDX of this CPU. HWCap2 is
	// AT_HWCAP2 as given.
	HWCap, HWCap2 uint64
	// MinSigStackSize is AT_MINSIGSTKSZ; 0 means 2048.
	MinSigStackSize uint64
	// Random supplies AT_RANDOM and the layout randomisation; nil means
	// crypto/rand.
	Random io.Reader
	// DisableASLR lays everything out at fixed addresses
	// (personality(ADDR_NO_RANDOMIZE)).
	DisableASLR bool
	// StackSize is the size of the stack VMA; 0 means 8 MiB.
	StackSize uint64
}

// Result is what the kernel needs to start the new program.
type Result struct {
	// Entry and StackPointer are the initial rip and rsp.
	Entry, StackPointer uintptr
	// Auxv is the auxiliary vector as key/value pairs, AT_NULL included.
	Auxv []uint64
	// ExecFile is the ELF file executed (the script interpreter for a
	// script), for /proc/self/exe; Filename is the path it was opened by.
	ExecFile File
	Filename string
	// Interpreter is the PT_INTERP path ("" for static programs).
	Interpreter string
	// Argv is the final argument vector (rewritten for scripts).
	Argv []string
	// BrkStart is where the program break starts.
	BrkStart uintptr
	// LoadBias and InterpBias are the load biases of the executable and
	// the interpreter (AT_BASE).
	LoadBias, InterpBias uintptr
	// Where the argument and environment strings are.
	ArgvStart, ArgvEnd, EnvStart, EnvEnd uintptr
}

const (
	maxScriptDepth = 4
	binprmBufSize  = 256
	defaultStack   = 8 << 20
	pageSize       = 4096
	pageMask       = pageSize - 1
)

// Load loads the program a.Filename into m, which should be empty.
func Load(m *mm.MemoryManager, a Args) (Result, error) {
	if a.Opener == nil || a.Filename == "" {
		return Result{}, unix.ENOENT
	}
	if a.Random == nil {
		a.Random = rand.Reader
	}
	filename := a.Filename
	argv := append([]string(nil), a.Argv...)
	var f File
	var ei *elfInfo
	for depth := 0; ; depth++ {
		var err error
		f, err = a.Opener(filename)
		if err != nil {
			return Result{}, err
		}
		buf := make([]byte, binprmBufSize)
		n, err := f.ReadAt(buf, 0)
		if n == 0 && err != nil && !errors.Is(err, io.EOF) {
			return Result{}, unix.EIO
		}
		buf = buf[:n]
		if !bytes.HasPrefix(buf, []byte("#!")) {
			ei, err = parseELF(f, buf)
			if err != nil {
				return Result{}, err
			}
			break
		}
		if depth >= maxScriptDepth {
			return Result{}, unix.ELOOP
		}
		interp, arg, err := parseShebang(buf)
		if err != nil {
			return Result{}, err
		}
		// Like Linux: argv[0] is replaced by the interpreter, its
		// optional argument and the script's path.
		na := []string{interp}
		if arg != "" {
			na = append(na, arg)
		}
		na = append(na, filename)
		if len(argv) > 1 {
			na = append(na, argv[1:]...)
		}
		argv, filename = na, interp
	}
	return load(m, a, f, ei, filename, argv)
}

// parseShebang splits a "#!" line into interpreter and optional argument.
func parseShebang(buf []byte) (string, string, error) {
	line := buf[2:]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	} else if len(buf) == binprmBufSize {
		// No newline in the buffer: the interpreter name must at least
		// be complete.
		t := bytes.TrimLeft(line, " \t")
		if bytes.IndexAny(t, " \t\x00") < 0 {
			return "", "", unix.ENOEXEC
		}
	}
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	line = bytes.Trim(line, " \t")
	if len(line) == 0 {
		return "", "", unix.ENOEXEC
	}
	interp, arg := line, []byte(nil)
	if i := bytes.IndexAny(line, " \t"); i >= 0 {
		interp, arg = line[:i], bytes.TrimLeft(line[i:], " \t")
	}
	return string(interp), string(arg), nil
}
