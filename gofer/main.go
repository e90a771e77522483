package gofer

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/seccomp"
)

// Main is the `runsc-cri gofer` subcommand. args are the arguments after the
// subcommand name and must be the tail of os.Args (Main may re-execute the
// binary with os.Args[:len(os.Args)-len(args)] followed by new flags).
//
// Flags:
//
//	--root DIR    the directory tree to serve (required)
//	--sock-fd N   an inherited, connected SOCK_SEQPACKET unix socket (required)
//	--ro          serve read-only (EROFS for every mutation) and mount the
//	              root read-only in the gofer's namespace
//	--detached    (with --mntns) no parent-death signal: the gofer outlives
//	              whoever started it (the CRI daemon, which may restart) and
//	              ends when the sentry closes its socket
//	--mntns       the caller started this process in a fresh mount namespace
//	              (clone flag CLONE_NEWNS); without it Main re-executes
//	              itself in one and waits for that child
//	--volume FD:ro|rw:PATH  (repeatable) also serve, on the inherited
//	              SOCK_SEQPACKET socket FD, the directory PATH inside the
//	              root (a volume's mount point), confined to that tree
//	              (volumes.go); the gofer ends when every connection has
//	              been closed
//
// Confinement, in this order:
//
//  1. A mount namespace of our own. unshare(CLONE_NEWNS) cannot be used from
//     Go: it forces CLONE_FS, which the kernel applies to the calling thread
//     only, leaving the runtime's other threads in the host namespace. So the
//     whole process must be born in the namespace: the daemon should start
//     the gofer with SysProcAttr{Cloneflags: CLONE_NEWNS, Pdeathsig: SIGKILL}
//     and --mntns; otherwise Main does that itself with a re-exec (and the
//     first process stays as a waiting parent, so the caller's pid is still
//     the gofer's lifetime).
//  2. Mount propagation of / made recursively slave (MS_SLAVE|MS_REC): our
//     mounts never reach the host, while host unmounts still reach us so we
//     never keep a pod's rootfs busy.
//  3. A recursive clone of the root (open_tree OPEN_TREE_CLONE), made
//     read-only with --ro (mount_setattr), attached on top of the root and
//     entered through its fd; entering by fd is what makes a root of "/"
//     work, since the path "/" always resolves to the process root.
//  4. An O_PATH descriptor of /proc/self/fd opened (used to reopen handles'
//     regular files; see the package comment).
//  5. pivot_root(".", ".") inside the root, then the old root, stacked on
//     top, detached with umount2(MNT_DETACH). After this no path in the
//     process reaches a host file outside the root, even through a bug in
//     the name checks; only the /proc/self/fd descriptor does, and it is
//     only used with numeric names of our own descriptors.
//  6. PR_SET_PDEATHSIG(SIGKILL) (exit if the parent already went away),
//     PR_SET_NO_NEW_PRIVS, umask 0 (the sentry applies the application's
//     umask; the gofer sets exact modes).
//
// Then it serves until the sentry closes the socket. The exit status is 0
// after a clean close, 1 on an error and 2 on a usage error.
func Main(args []string) int {
	fs := flag.NewFlagSet("gofer", flag.ContinueOnError)
	root := fs.String("root", "", "directory tree to serve")
	sockFD := fs.Int("sock-fd", -1, "inherited connected SOCK_SEQPACKET unix socket")
	ro := fs.Bool("ro", false, "serve read-only")
	inNS := fs.Bool("mntns", false, "already started in a fresh mount namespace")
	detached := fs.Bool("detached", false, "no parent-death signal: the gofer outlives its starter and ends when the sentry closes its socket (the CRI daemon)")
	var vols volumeFlags
	fs.Var(&vols, "volume", "FD:ro|rw:PATH: serve the directory PATH inside the root on the inherited socket FD (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *root == "" || *sockFD < 0 || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: gofer --root DIR --sock-fd N [--ro] [--mntns [--detached]] [--volume FD:ro|rw:PATH]...")
		return 2
	}
	if !*inNS {
		return reexec(args, *root, *sockFD, *ro, vols)
	}
	if err := runGofer(*root, *sockFD, *ro, *detached, vols); err != nil {
		fmt.Fprintln(os.Stderr, "gofer:", err)
		return 1
	}
	return 0
}

// reexec runs this binary again in a new mount namespace with the socket as
// fd 3 (and the volumes' sockets as 4, 5, ...), and waits for it.
func reexec(args []string, root string, sockFD int, ro bool, vols []volume) int {
	n := len(os.Args) - len(args)
	if n < 1 || !equal(os.Args[n:], args) {
		fmt.Fprintln(os.Stderr, "gofer: Main's args are not the tail of os.Args; cannot re-execute")
		return 2
	}
	sock := os.NewFile(uintptr(sockFD), "gofer-sock")
	if sock == nil {
		fmt.Fprintln(os.Stderr, "gofer: bad --sock-fd")
		return 2
	}
	argv := append([]string(nil), os.Args[1:n]...)
	argv = append(argv, "--root", root, "--sock-fd", "3", "--mntns")
	if ro {
		argv = append(argv, "--ro")
	}
	extra := []*os.File{sock}
	for i, v := range vols {
		f := os.NewFile(uintptr(v.fd), "gofer-volume-sock")
		if f == nil {
			fmt.Fprintln(os.Stderr, "gofer: bad --volume fd")
			return 2
		}
		extra = append(extra, f)
		v.fd = 4 + i
		argv = append(argv, "--volume", v.format())
	}
	cmd := exec.Command("/proc/self/exe", argv...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS,
		Pdeathsig:  syscall.SIGKILL,
	}
	// Terminating signals go to the child; we exit with it.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "gofer: re-exec in a new mount namespace:", err)
		return 1
	}
	for _, f := range extra {
		f.Close()
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	signal.Stop(sigs)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() >= 0 {
			return ee.ExitCode()
		}
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gofer:", err)
		return 1
	}
	return 0
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// runGofer confines the process (see Main) and serves.
func runGofer(root string, sockFD int, ro, detached bool, vols []volume) error {
	ppid := os.Getppid()
	conn, err := socketConn(sockFD)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, v := range vols {
		// Checked now, before any set-up (serveAll wraps them).
		if typ, err := unix.GetsockoptInt(v.fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_SEQPACKET {
			return fmt.Errorf("--volume %s: fd %d is not a SOCK_SEQPACKET socket (%v)", v.path, v.fd, err)
		}
	}

	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make / rslave: %w", err)
	}
	// A recursive clone of the root, attached on top of the root itself
	// and entered through its fd: this works for any root, "/" included
	// (a plain bind of "/" onto itself cannot be entered by path, since
	// "/" resolves to the process root underneath it).
	tree, err := unix.OpenTree(unix.AT_FDCWD, root, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("clone %s: %w", root, err)
	}
	defer unix.Close(tree)
	if ro {
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("make %s read-only: %w", root, err)
		}
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, root, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach %s: %w", root, err)
	}
	procFD, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /proc/self/fd: %w", err)
	}
	defer unix.Close(procFD)
	if err := unix.Fchdir(tree); err != nil {
		return fmt.Errorf("enter %s: %w", root, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}

	if !detached {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			return fmt.Errorf("PR_SET_PDEATHSIG: %w", err)
		}
		if os.Getppid() != ppid {
			return errors.New("parent exited during start-up")
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %w", err)
	}
	unix.Umask(0)
	// Every handle the sentry holds is an fd here: allow as many as the
	// hard limit does.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}

	if err := seccomp.InstallFromEnv(seccomp.GoferRules()); err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	return serveAll(conn, vols, Options{ReadOnly: ro, Logf: logf, procFD: procFD})
}

// socketConn wraps the inherited socket, checking that it is SEQPACKET.
func socketConn(fd int) (*net.UnixConn, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return nil, fmt.Errorf("--sock-fd %d: %w", fd, err)
	}
	if typ != unix.SOCK_SEQPACKET {
		return nil, fmt.Errorf("--sock-fd %d: not a SOCK_SEQPACKET socket", fd)
	}
	f := os.NewFile(uintptr(fd), "gofer-sock-"+strconv.Itoa(fd))
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("--sock-fd %d: %w", fd, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("--sock-fd %d: not a unix socket", fd)
	}
	return uc, nil
}

// SocketPair returns a connected SOCK_SEQPACKET pair for a sandbox: give
// sentryEnd to the sentry (client.NewFD) and goferEnd to the gofer
// (--sock-fd). Both are close-on-exec; pass them with exec.Cmd.ExtraFiles.
func SocketPair() (sentryEnd, goferEnd *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "gofer-sentry-end"), os.NewFile(uintptr(fds[1]), "gofer-gofer-end"), nil
}
