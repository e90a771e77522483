package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/boot"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// doMain implements `runsc-cri do`: run one command in a fresh sandbox with
// this process's stdio, like `runsc do`.
func doMain(args []string) int {
	fs := flag.NewFlagSet("do", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: runsc-cri do [flags] -- COMMAND [ARG...]")
		fs.PrintDefaults()
	}
	rootfs := fs.String("rootfs", "", "root directory of the sandbox (default: a read-only view of the host's / with a private tmpfs on /tmp)")
	platformName := fs.String("platform", "ptrace", "platform that runs application code (ptrace)")
	user := fs.String("user", "0:0", "UID[:GID] of the process inside the sandbox")
	cwd := fs.String("cwd", "/", "working directory inside the sandbox")
	memLimit := fs.String("memory-limit", "8G", "most application memory the sandbox may use (bytes, or with K/M/G suffix)")
	maxTasks := fs.Int("max-tasks", boot.DefaultMaxTasks, "most threads the sandbox may have (fork bombs stop here with EAGAIN)")
	readOnly := fs.Bool("ro", false, "mount --rootfs read-only")
	privileged := fs.Bool("privileged", false, "give uid 0 every capability, as in a privileged container (mount, pivot_root, ...); default: the OCI default set")
	debug := fs.Bool("debug", false, "log every system call to stderr")
	hostname := fs.String("hostname", "", "hostname inside the sandbox (default: the host's)")
	var envs stringList
	fs.Var(&envs, "env", "KEY=VALUE added to the environment (repeatable); the sandbox starts with this process's environment")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fs.Usage()
		return 2
	}
	uid, gid, err := parseUser(*user)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri do: --user: %v\n", err)
		return 2
	}
	limit, err := parseBytes(*memLimit)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri do: --memory-limit: %v\n", err)
		return 2
	}
	level := slog.LevelWarn
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	root, ro := *rootfs, *readOnly
	var tmpfs []string
	if root == "" {
		root, ro = "/", true
		tmpfs = []string{"/tmp"}
	}
	goferFD, goferProc, err := startGofer(root, ro)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri do: %v\n", err)
		return 1
	}
	defer goferProc.Process.Kill()

	h := *hostname
	if h == "" {
		h, _ = os.Hostname()
	}
	env := mergeEnv(os.Environ(), envs)
	spec := boot.Spec{
		Platform:     *platformName,
		MemoryLimit:  limit,
		MaxTasks:     *maxTasks,
		RootGoferFD:  goferFD,
		RootReadOnly: ro,
		TmpfsMounts:  tmpfs,
		Hostname:     h,
		Debug:        *debug,
		Process: boot.Process{
			Argv:       argv,
			Env:        env,
			Cwd:        *cwd,
			UID:        uid,
			GID:        gid,
			Stdio:      [3]int{0, 1, 2},
			Privileged: *privileged,
		},
	}
	status, err := boot.Run(spec, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri do: %v\n", err)
		return 127
	}
	return status
}

// startGofer starts `runsc-cri gofer` for root in its own mount namespace
// and returns the sentry's end of its socket.
func startGofer(root string, ro bool) (int, *exec.Cmd, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, fmt.Errorf("gofer socket: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return -1, nil, err
	}
	args := []string{"gofer", "--root", root, "--sock-fd", "3", "--mntns"}
	if ro {
		args = append(args, "--ro")
	}
	cmd := exec.Command(self, args...)
	// The *os.File owns fds[1]: close it through the file, never with
	// unix.Close, or the file's finalizer later closes whatever descriptor
	// then has that number.
	goferEnd := os.NewFile(uintptr(fds[1]), "gofer-socket")
	cmd.ExtraFiles = []*os.File{goferEnd}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	goferEnd.Close()
	if err != nil {
		unix.Close(fds[0])
		if errors.Is(err, unix.EPERM) {
			return -1, nil, fmt.Errorf("starting gofer: %w (runsc-cri do needs root: the gofer runs in a mount namespace of its own)", err)
		}
		return -1, nil, fmt.Errorf("starting gofer: %w", err)
	}
	return fds[0], cmd, nil
}

func parseUser(s string) (uint32, uint32, error) {
	u, g, hasG := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("bad uid %q", u)
	}
	gid := uid
	if hasG {
		if gid, err = strconv.ParseUint(g, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("bad gid %q", g)
		}
	}
	return uint32(uid), uint32(gid), nil
}

func parseBytes(s string) (uint64, error) {
	mult := uint64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// mergeEnv applies KEY=VALUE overrides to base.
func mergeEnv(base, overrides []string) []string {
	idx := map[string]int{}
	out := append([]string(nil), base...)
	for i, e := range out {
		k, _, _ := strings.Cut(e, "=")
		idx[k] = i
	}
	for _, e := range overrides {
		k, _, _ := strings.Cut(e, "=")
		if i, ok := idx[k]; ok {
			out[i] = e
		} else {
			idx[k] = len(out)
			out = append(out, e)
		}
	}
	return out
}
