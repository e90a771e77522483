package boot

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path"
	"runtime/pprof"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/syscalls"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// Sandbox is a running sandbox.
type Sandbox struct {
	Kernel   *kernel.Kernel
	Init     *kernel.ThreadGroup
	memFile  *memfile.File
	platform platform.Platform
}

// Start builds the sandbox described by spec and starts its first process.
func Start(spec Spec, log *slog.Logger) (*Sandbox, error) {
	return start(spec, log, nil)
}

// rootMaker builds the root filesystem in place of the gofer (tests).
type rootMaker func(v *vfs.VirtualFilesystem, mf *memfile.File) (vfs.VirtualDentry, error)

func start(spec Spec, log *slog.Logger, makeRoot rootMaker) (s *Sandbox, retErr error) {
	if len(spec.Process.Argv) == 0 {
		return nil, fmt.Errorf("no command to run")
	}
	m, err := newMachine(machineConfig{
		Platform:    spec.Platform,
		MemoryLimit: spec.MemoryLimit,
		MaxTasks:    spec.MaxTasks,
		Hostname:    spec.Hostname,
		Debug:       spec.Debug,
	}, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			m.close()
		}
	}()
	v, k, mf := m.v, m.k, m.mf
	var root vfs.VirtualDentry
	if makeRoot != nil {
		root, err = makeRoot(v, mf)
	} else {
		root, err = mountAll(v, mf, spec)
	}
	if err != nil {
		return nil, err
	}
	if err := mountKernelFilesystems(v, k, mf, root); err != nil {
		return nil, err
	}
	registerControllingTTY(v, spec.Process.Stdio)

	proc := spec.Process
	groups := make([]auth.KGID, len(proc.Groups))
	for i, g := range proc.Groups {
		groups[i] = auth.KGID(g)
	}
	caps := auth.DefaultContainerCaps
	if proc.Privileged {
		caps = auth.AllCaps
	}
	creds := auth.NewCredentials(auth.KUID(proc.UID), auth.KGID(proc.GID), groups, caps)

	fdt := vfs.NewFDTable()
	for i, hfd := range proc.Stdio {
		f, err := newHostFile(v, hfd)
		if err != nil {
			return nil, fmt.Errorf("stdio %d: %w", i, err)
		}
		if _, err := fdt.NewFD(int32(i), f, vfs.FDFlags{}, 1<<20); err != nil {
			return nil, fmt.Errorf("stdio %d: %w", i, err)
		}
		f.DecRef(nil)
	}
	root.IncRef()
	fsc := vfs.NewFSContext(root, root)
	bctx := bootContext{creds}
	if proc.Cwd != "" && proc.Cwd != "/" {
		pop := fsc.PathOp(vfs.VirtualDentry{}, proc.Cwd, true)
		cwd, err := v.GetDentryAt(bctx, pop, vfs.GetDentryOptions{CheckSearchable: true})
		pop.Release()
		if err != nil {
			return nil, fmt.Errorf("working directory %s: %w", proc.Cwd, err)
		}
		fsc.SetCwd(cwd)
		cwd.DecRef()
	}
	filename, err := lookPath(v, fsc, bctx, proc.Argv[0], proc.Env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", proc.Argv[0], err)
	}
	umask := uint32(0o022)
	if proc.Umask != nil {
		umask = *proc.Umask
	}
	fsc.SwapUmask(umask)
	if err := beforeInit(); err != nil {
		return nil, err
	}
	tg, err := k.StartInit(kernel.ProcessArgs{
		Filename:    filename,
		Argv:        proc.Argv,
		Envv:        proc.Env,
		Credentials: creds,
		FDTable:     fdt,
		FSContext:   fsc,
	})
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", filename, err)
	}
	return &Sandbox{Kernel: k, Init: tg, memFile: mf, platform: m.p}, nil
}

// machineConfig is what a sandbox's machine is built from (shared by Spec
// and PodSpec).
type machineConfig struct {
	Platform    string
	MemoryLimit uint64
	MaxTasks    int
	Hostname    string
	Debug       bool
}

// machine is what every sandbox stands on: the memory file, the platform,
// an empty virtual filesystem and the kernel (with no process yet).
type machine struct {
	mf *memfile.File
	p  platform.Platform
	v  *vfs.VirtualFilesystem
	k  *kernel.Kernel
}

// newMachine builds a machine, filling in the defaults of cfg's zero fields.
func newMachine(cfg machineConfig, log *slog.Logger) (*machine, error) {
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = DefaultMemoryLimit
	}
	if cfg.MaxTasks == 0 {
		cfg.MaxTasks = DefaultMaxTasks
	}
	if cfg.Platform == "" {
		cfg.Platform = "ptrace"
	}
	mf, err := memfile.New("runsc-cri-memory", cfg.MemoryLimit)
	if err != nil {
		return nil, err
	}
	p, err := platform.New(cfg.Platform, mf.FD())
	if err != nil {
		mf.Close()
		return nil, fmt.Errorf("platform %s: %w", cfg.Platform, err)
	}
	v := vfs.New()
	sysfn := syscalls.Dispatch
	if cfg.Debug {
		sysfn = syscalls.Tracing(log)
	}
	k := kernel.New(kernel.Config{
		Platform:   p,
		MemFile:    mf,
		VFS:        v,
		Syscall:    sysfn,
		ExecOpener: openExec,
		Hostname:   cfg.Hostname,
		MaxTasks:   cfg.MaxTasks,
		Log:        log,
	})
	return &machine{mf: mf, p: p, v: v, k: k}, nil
}

// close releases the platform and the memory file (after the kernel's
// tasks are gone).
func (m *machine) close() {
	m.p.Close()
	m.mf.Close()
}

// Wait blocks until the sandbox ends and returns init's status as a shell
// reports it (exit code, or 128+signal).
func (s *Sandbox) Wait() int {
	<-s.Kernel.Done()
	return s.Kernel.InitStatus().ShellStatus()
}

// Signal sends sig to the sandbox's init process (do forwards its signals).
func (s *Sandbox) Signal(sig linux.Signal) {
	info := &linux.SignalInfo{Signo: int32(sig), Code: linux.SI_USER}
	s.Init.SendGroupSignal(info)
}

// Destroy releases the platform and the memory file.
func (s *Sandbox) Destroy() {
	s.Kernel.KillAll()
	s.platform.Close()
	s.memFile.Close()
}

// cpuProfileEnv names the environment variable that, when set to a file
// name, makes Run write a Go CPU profile of the whole sandbox run there
// (for `go tool pprof`; a developer hook, not a user interface).
const cpuProfileEnv = "RUNSC_CRI_CPUPROFILE"

// Run starts the sandbox, forwards this process's catchable signals to its
// init, waits for it to end and returns the exit status.
func Run(spec Spec, log *slog.Logger) (int, error) {
	if name := os.Getenv(cpuProfileEnv); name != "" {
		f, err := os.Create(name)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", cpuProfileEnv, err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return 0, fmt.Errorf("%s: %w", cpuProfileEnv, err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	beforeInit = func() error { return InstallHostSeccomp(false) }
	s, err := Start(spec, log)
	if err != nil {
		return 0, err
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGCONT, syscall.SIGALRM)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			s.Signal(linux.Signal(sig.(syscall.Signal)))
		}
	}()
	status := s.Wait()
	s.Destroy()
	return status, nil
}

// bootContext is the vfs context of boot-time lookups.
type bootContext struct{ creds *auth.Credentials }

func (c bootContext) Credentials() *auth.Credentials { return c.creds }

// lookPath finds argv0 in the sandbox like execvp: names with a slash are
// used as they are, others are searched in the PATH of env.
func lookPath(v *vfs.VirtualFilesystem, fsc *vfs.FSContext, ctx vfs.Context, argv0 string, env []string) (string, error) {
	if strings.Contains(argv0, "/") {
		return argv0, nil
	}
	pathVar := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			pathVar = e[5:]
		}
	}
	for _, dir := range strings.Split(pathVar, ":") {
		if dir == "" {
			dir = "."
		}
		p := path.Join(dir, argv0)
		pop := fsc.PathOp(vfs.VirtualDentry{}, p, true)
		st, err := v.StatAt(ctx, pop)
		pop.Release()
		if err == nil && st.Mode&linux.S_IFMT == linux.S_IFREG && st.Mode&0o111 != 0 {
			return p, nil
		}
	}
	return "", unix.ENOENT
}
