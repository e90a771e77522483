package ptracetest

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
	_ "github.com/runsc-cri/runsc-cri/platform/ptrace"
	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/loader"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/memmap"
	"github.com/runsc-cri/runsc-cri/sentry/mm"
)

type osBacking struct{ f *os.File }

func (b osBacking) ReadAt(p []byte, off int64) (int, error)  { return b.f.ReadAt(p, off) }
func (b osBacking) WriteAt(p []byte, off int64) (int, error) { return b.f.WriteAt(p, off) }
func (b osBacking) Size() (uint64, error) {
	st, err := b.f.Stat()
	if err != nil {
		return 0, err
	}
	return uint64(st.Size()), nil
}

type hostFile struct {
	f     *os.File
	path  string
	cache *memmap.Cache
	st    *syscall.Stat_t
}

func (h *hostFile) ReadAt(p []byte, off int64) (int, error) { return h.f.ReadAt(p, off) }
func (h *hostFile) Mappable() memmap.Mappable               { return h.cache }
func (h *hostFile) Name() string                            { return h.path }
func (h *hostFile) Dev() uint64                             { return h.st.Dev }
func (h *hostFile) Ino() uint64                             { return h.st.Ino }

// run loads argv[0] and runs it until exit, emulating a few system calls.
// It returns what the program wrote to fds 1 and 2 and its exit status.
func run(t *testing.T, path string, argv []string) (string, int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mf, err := memfile.New("ptracetest", 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	p, err := platform.New("ptrace", mf.FD())
	if errors.Is(err, platform.ErrUnavailable) {
		t.Skipf("ptrace unavailable: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m, err := mm.New(p, mf)
	if err != nil {
		t.Fatal(err)
	}
	var files []*hostFile
	defer func() {
		for _, f := range files {
			f.cache.Drop()
			f.f.Close()
		}
	}()
	open := func(path string) (loader.File, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		st, _ := f.Stat()
		h := &hostFile{f: f, path: path, cache: memmap.NewCache(mf, osBacking{f}), st: st.Sys().(*syscall.Stat_t)}
		files = append(files, h)
		return h, nil
	}
	res, err := loader.Load(m, loader.Args{Filename: path, Argv: argv, Envv: []string{"PATH=/bin"}, Opener: open})
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := p.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Release()
	defer m.DecUsers()
	defer ctx.Forget(m.AddressSpace())
	regs := arch.InitialRegisters(res.Entry, res.StackPointer)
	var out strings.Builder
	faults := 0
	for i := 0; i < 20000; i++ {
		ev, info, err := ctx.Switch(m.AddressSpace(), &regs)
		if err != nil {
			t.Fatal(err)
		}
		switch ev {
		case platform.EventFault:
			faults++
			if err := m.HandleFault(info.Addr, info); err != nil {
				t.Fatalf("fault at %#x (rip %#x): %v\n%s", info.Addr, regs.Rip, err, m.Maps())
			}
			continue
		case platform.EventSignal:
			t.Fatalf("signal %d at rip %#x", info.Signo, regs.Rip)
		case platform.EventSyscall:
		default:
			continue
		}
		a := regs.Args()
		ret := -int64(unix.ENOSYS)
		switch regs.SyscallNo() {
		case unix.SYS_WRITE:
			b := make([]byte, a[2])
			n, _ := m.CopyIn(a[1], b)
			out.Write(b[:n])
			ret = int64(n)
		case unix.SYS_WRITEV:
			total := int64(0)
			for k := uintptr(0); k < a[2]; k++ {
				var iov [16]byte
				m.CopyIn(a[1]+16*k, iov[:])
				b := make([]byte, binary.LittleEndian.Uint64(iov[8:]))
				n, _ := m.CopyIn(uintptr(binary.LittleEndian.Uint64(iov[:])), b)
				out.Write(b[:n])
				total += int64(n)
			}
			ret = total
		case unix.SYS_BRK:
			b, _ := m.Brk(a[0])
			ret = int64(b)
		case unix.SYS_ARCH_PRCTL:
			if a[0] == 0x1002 { // ARCH_SET_FS
				regs.FsBase = uint64(a[1])
				ret = 0
			} else {
				ret = -int64(unix.EINVAL)
			}
		case unix.SYS_MMAP:
			addr, err := m.MMap(mm.MMapOpts{Addr: a[0], Length: a[1], Prot: int(a[2]), Flags: int(a[3])})
			if err != nil {
				ret = -int64(err.(unix.Errno))
			} else {
				ret = int64(addr)
			}
		case unix.SYS_MUNMAP:
			ret = errRet(m.MUnmap(a[0], a[1]))
		case unix.SYS_MPROTECT:
			ret = errRet(m.MProtect(a[0], a[1], int(a[2])))
		case unix.SYS_SET_TID_ADDRESS:
			ret = 1
		case unix.SYS_GETUID, unix.SYS_GETEUID, unix.SYS_GETGID, unix.SYS_GETEGID,
			unix.SYS_RT_SIGACTION, unix.SYS_RT_SIGPROCMASK:
			ret = 0
		case unix.SYS_GETPID, unix.SYS_GETTID:
			ret = 1
		case unix.SYS_IOCTL:
			ret = -int64(unix.ENOTTY)
		case unix.SYS_EXIT, unix.SYS_EXIT_GROUP:
			t.Logf("%d faults", faults)
			return out.String(), int(a[0])
		}
		regs.SetReturn(uintptr(ret))
	}
	t.Fatalf("program did not exit; output so far %q", out.String())
	return "", 0
}

func errRet(err error) int64 {
	if err == nil {
		return 0
	}
	return -int64(err.(unix.Errno))
}

func TestBusyboxEcho(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox")
	}
	out, status := run(t, "/bin/busybox", []string{"echo", "hello", "from", "the", "sentry"})
	if out != "hello from the sentry\n" || status != 0 {
		t.Fatalf("output %q status %d", out, status)
	}
}

func TestScriptThroughBusybox(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox")
	}
	s := t.TempDir() + "/script"
	if err := os.WriteFile(s, []byte("#!/bin/busybox echo\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, status := run(t, s, []string{"script", "arg"})
	if out != s+" arg\n" || status != 0 {
		t.Fatalf("output %q status %d", out, status)
	}
}
