// Package sandbox starts, stops and reattaches to the processes of a pod:
// its sentry (`runsc-cri boot --pod`) and its gofers (`runsc-cri gofer`),
// and prepares the host side of each container's file system. It talks
// to a sentry only through sentry/control.
//
// # Processes and daemon restarts
//
// A pod is one sentry: `runsc-cri boot --pod --control SOCKET --spec FILE`,
// a kernel with no init process that serves the control protocol on
// SOCKET. Containers are process trees inside it, created over control.
//
// Files reach a container through one gofer per container (not one per
// pod): the daemon mounts the container's rootfs snapshot on a host
// directory, makes that mount private, bind-mounts the container's
// volumes, host paths and the pod's /etc/hostname, /etc/hosts and
// /etc/resolv.conf inside it (each mount point created with every path
// component resolved inside the rootfs, so an image's symlinks cannot send
// a mount outside it), and only then starts a gofer on that directory,
// born in a mount namespace of its own: a copy of the daemon's, so the
// binds are in its tree. StartGofer then detaches the binds from the
// daemon's namespace: they live only in the gofer's, and the host keeps
// nothing below the rootfs mount. So a host
// path used as a volume can be unmounted or removed on the host while the
// container runs (no EBUSY because of a bind of ours; the container keeps
// what it has open, as with runc), and nothing is left on the host if the
// daemon dies. The connection's other end is passed to the sentry in
// CreateContainer. Read-only volumes are read-only bind mounts (the host
// kernel refuses writes); a read-only rootfs is a read-only remount of the
// rootfs mount alone, so writable volumes inside it stay writable.
//
// # Volume connections
//
// The rootfs connection is mounted by the sentry in its cached, exclusive
// mode (the sandbox is the rootfs's only writer). A host-path volume has
// other writers (the host, the kubelet's ConfigMap/Secret updates), so
// each gets a connection of its own on the same gofer process
// (BindVolume, StartGofer's vols: one socketpair per volume, `gofer
// --volume FD:ro|rw:PATH`), which the sentry mounts at the volume's place
// in its shared, revalidating mode (control.Mount with a GoferFD): a name
// the container has looked up is checked against the host at the next
// lookup, so new, replaced and removed files, an atomically swapped
// "..data" symlink and mounts the host propagates below a
// HOST_TO_CONTAINER bind are seen at once. The gofer opens each volume's
// directory inside its root before it serves anything, and a volume
// connection reaches only that tree (see package gofer). A file volume's
// connection serves the directory holding its mount point (the
// container's own rootfs or volume, nothing more), and the sentry binds
// the one file from it (control.Mount Source): its attributes are
// revalidated too, and it is seen even below the sentry's own /dev
// (the kubelet's /dev/termination-log). Image volumes, the pod's /etc
// files and a file bound in the root directory itself stay in the rootfs
// connection (an image does not change; the /etc files are written once).
// A plain read-only directory volume is served read-write by the gofer
// and mounted read-write in the sentry (the read-only bind refuses writes
// with EROFS, while host mounts below it keep their own flags, as in
// Linux); a recursively read-only one, or a read-only file, is read-only
// in both. Volume paths are resolved once, by the daemon, inside the
// rootfs, and passed resolved to both the gofer and the sentry. Cost: a
// socketpair, a few goroutines and descriptors per volume (about 90 KiB
// of gofer RSS each); no process.
//
// Mount propagation (CRI Mount.propagation) is the binds' propagation
// type, set before they are attached: PROPAGATION_PRIVATE binds are
// recursively private, so a mount the host makes below the source later
// never reaches the container; PROPAGATION_HOST_TO_CONTAINER binds are
// recursively slaves of the source's peer group (rslave), so one does:
// the gofer's copy receives it, and the sentry sees it at the next lookup
// of the mount point (a gofer lookup crosses mount points, and the volume
// connection is revalidated), even if the container had listed it before;
// an unmount on the host reaches it the same way. PROPAGATION_BIDIRECTIONAL
// would need the container's mounts to reach the host, but they are the
// sentry's own: it is refused. The rootfs mount is private because the
// daemon's unmounts below it must not propagate into the gofer's copy.
//
// Everything must outlive the daemon. The sentry is started in a session
// of its own with no parent-death signal; the daemon reaps it while it
// lives, and after a daemon exit it is re-parented to init. The gofer is
// started the same way, directly in a new mount namespace (CLONE_NEWNS,
// --mntns) and with --detached, so it sets no parent-death signal: a daemon
// exit leaves it running, and it ends when the sentry has closed all its
// connections (container removed, or sentry gone). (An earlier design let gofer.Main
// re-execute itself and stay as a waiting parent; that cost an exec and
// ~3.7 MiB PSS per container.)
//
// One gofer per container: two containers that mount the same host
// directory see it through two gofer connections, so two dentry caches in
// the sentry; both are in shared mode, so what one writes the other sees
// at its next lookup (as with a change made by the host).
//
// Host cgroups are the caller's (cri/sandbox_cgroups.go, cri/cgroups): the
// sentry is moved into the pod's cgroup, with any child it forked, before the
// pod is Ready; container memory limits stay charged by the sentry itself.
// Pod networking is cri/network's: the sentry is started
// inside the pod's network namespace and given eth0 by a control call.
// Sentries and gofers
// inherit the daemon's oom_score_adj; Runner.OOMScoreAdj sets another one
// where asked, and a failure (lowering it needs CAP_SYS_RESOURCE, which
// these machines lack) is only a warning.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// Spec is the pod spec given to `runsc-cri boot --pod --spec FILE`.
type Spec struct {
	// Platform names the platform ("ptrace", "kvm").
	Platform string `json:"platform"`
	// MemoryLimit is the most application memory the pod may use (0: the
	// sentry's default).
	MemoryLimit uint64 `json:"memoryLimit,omitempty"`
	// Hostname is the pod's UTS hostname.
	Hostname string `json:"hostname"`
	// Debug logs every system call.
	Debug bool `json:"debug,omitempty"`
	// Sysctls are the pod's kernel parameters, set in its /proc/sys.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// InfraInit gives the pod an infra process as PID 1 (containers
	// sharing the pod's PID namespace, NamespaceMode POD).
	InfraInit bool `json:"infraInit,omitempty"`
}

// Runner starts pod processes.
type Runner struct {
	// Binary is the runsc-cri executable.
	Binary string
	Log    *slog.Logger
	// StartTimeout bounds how long StartSentry waits for the control
	// socket to answer (default 10s).
	StartTimeout time.Duration
	// OOMScoreAdj, if not 0, is written for every sentry and gofer; a
	// failure is logged as a warning.
	OOMScoreAdj int
}

// Sentry is a started pod sentry.
type Sentry struct {
	PID    int
	Socket string
}

// StartSentry starts a pod sentry with its files in dir (spec.json,
// sentry.log) and its control socket at socket, and waits until it
// answers Ping. On failure nothing is left running.
func (r *Runner) StartSentry(dir, socket string, spec Spec) (_ *Sentry, retErr error) {
	specPath := filepath.Join(dir, "spec.json")
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(specPath, b, 0o600); err != nil {
		return nil, fmt.Errorf("pod spec: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "sentry.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sentry log: %w", err)
	}
	defer logf.Close()
	os.Remove(socket)
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	cmd := exec.Command(r.Binary, "boot", "--pod", "--control", socket, "--spec", specPath, "--ready-fd", "3")
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	// Own session, no death signal: the sentry outlives the daemon.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return nil, fmt.Errorf("starting the sentry: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() // reap while we live
	defer func() {
		if retErr != nil {
			cmd.Process.Kill()
			<-exited
			os.Remove(socket)
		}
	}()
	r.oomScore(cmd.Process.Pid)
	timeout := r.StartTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	// The sentry writes "ok\n" (or "error: ...\n") on the ready pipe once
	// its socket accepts calls; EOF means it died first.
	readyR.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	n, err := io.ReadAtLeast(readyR, buf, 1)
	for err == nil && n < len(buf) && buf[n-1] != '\n' {
		var m int
		m, err = readyR.Read(buf[n:])
		n += m
	}
	msg := strings.TrimSpace(string(buf[:n]))
	logPath := filepath.Join(dir, "sentry.log")
	switch {
	case msg == "ok":
		return &Sentry{PID: cmd.Process.Pid, Socket: socket}, nil
	case msg != "":
		return nil, fmt.Errorf("the sentry failed to start: %s (see %s)", msg, logPath)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, fmt.Errorf("the sentry was not ready within %v (see %s)", timeout, logPath)
	}
	<-exited
	return nil, fmt.Errorf("the sentry exited during start-up (%v); see %s", cmd.ProcessState, logPath)
}

// Gofer is a started gofer.
type Gofer struct {
	// PID is the gofer process (born in its mount namespace, detached).
	PID int
	// Conn is the sentry's end of the gofer's socket; the caller passes
	// it to the sentry and closes it.
	Conn *os.File
	// Volumes are the sentry's ends of the volumes' connections, in the
	// order of StartGofer's vols; the caller passes them to the sentry
	// (control.Mount GoferFD, Source "") and closes them.
	Volumes []*os.File
}

// Close closes the sentry's ends of every connection.
func (g *Gofer) Close() {
	g.Conn.Close()
	for _, f := range g.Volumes {
		f.Close()
	}
}

// StartGofer starts a gofer serving root (read-write), logging to logPath,
// and each of vols (directories bound inside root, see BindVolume) on a
// connection of its own (--volume), confined to that volume's tree.
//
// The gofer's mount namespace is a copy of the daemon's made when it is
// cloned, with everything mounted below root by then (volumes, the pod's
// /etc files). Once it is started, StartGofer detaches every mount below
// root from the daemon's namespace: they live on only in the gofer's, so
// the host keeps no bind of a volume (see the package comment). root
// itself is made private first (when it is a mount point), so that those
// unmounts do not propagate into the gofer's copy.
func (r *Runner) StartGofer(root, logPath string, vols ...Volume) (_ *Gofer, retErr error) {
	if err := MakePrivate(root); err != nil && !errors.Is(err, unix.EINVAL) {
		return nil, fmt.Errorf("gofer root: %w", err)
	}
	g := &Gofer{}
	var goferEnds []*os.File
	defer func() {
		for _, f := range goferEnds {
			f.Close()
		}
		if retErr != nil {
			g.Close()
		}
	}()
	for i := 0; i <= len(vols); i++ {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("gofer socket: %w", err)
		}
		sentryEnd := os.NewFile(uintptr(fds[0]), "gofer-sentry-end")
		goferEnds = append(goferEnds, os.NewFile(uintptr(fds[1]), "gofer-gofer-end"))
		if i == 0 {
			g.Conn = sentryEnd
		} else {
			g.Volumes = append(g.Volumes, sentryEnd)
		}
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("gofer log: %w", err)
	}
	defer logf.Close()
	// Born in its own mount namespace and session, with no parent-death
	// signal (--detached): it outlives the daemon and ends when the sentry
	// closes the connections (see the package comment).
	args := []string{"gofer", "--root", root, "--sock-fd", "3", "--mntns", "--detached"}
	for i, v := range vols {
		mode := "rw"
		if v.ReadOnly {
			mode = "ro"
		}
		args = append(args, "--volume", strconv.Itoa(4+i)+":"+mode+":"+v.Path)
	}
	cmd := exec.Command(r.Binary, args...)
	cmd.ExtraFiles = goferEnds
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Cloneflags: syscall.CLONE_NEWNS}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the gofer: %w", err)
	}
	go cmd.Wait()
	r.oomScore(cmd.Process.Pid)
	// The clone (and so the gofer's copy of the mounts) happened before
	// Start returned.
	if err := DetachBelow(root); err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("detaching the host side of the volumes: %w", err)
	}
	g.PID = cmd.Process.Pid
	return g, nil
}

func (r *Runner) oomScore(pid int) {
	if r.OOMScoreAdj == 0 {
		return
	}
	err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte(strconv.Itoa(r.OOMScoreAdj)), 0)
	if err != nil && r.Log != nil {
		r.Log.Warn("cannot set oom_score_adj (lowering it needs CAP_SYS_RESOURCE)", "pid", pid, "err", err)
	}
}

// Alive reports whether the sentry answers on socket.
func Alive(socket string) error {
	var pr control.PingResult
	return control.Call(socket, control.MethodPing, struct{}{}, nil, &pr, 2*time.Second)
}

// Shutdown ends a pod's sentry: control Shutdown, then SIGKILL of pid if
// it is still there after timeout. A sentry already gone is not an error.
func Shutdown(socket string, pid int, timeout time.Duration) error {
	err := control.Call(socket, control.MethodShutdown, struct{}{}, nil, nil, timeout)
	if pid > 0 {
		deadline := time.Now().Add(timeout)
		for processAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if processAlive(pid) && cmdlineHas(pid, socket) {
			if kerr := unix.Kill(pid, unix.SIGKILL); kerr != nil && !errors.Is(kerr, unix.ESRCH) {
				return fmt.Errorf("killing the sentry %d: %w", pid, kerr)
			}
		}
	}
	_ = err // a dead sentry cannot answer; being gone is what we want
	os.Remove(socket)
	return nil
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the last ')' of the command name.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
		}
	}
	return true
}

// KillGofer SIGKILLs the gofer pid serving root if it still exists (its
// command line is checked, so a reused PID is left alone).
func KillGofer(pid int, root string) {
	if pid <= 0 || !processAlive(pid) {
		return
	}
	if !cmdlineHas(pid, "gofer") || !cmdlineHas(pid, root) {
		return
	}
	unix.Kill(pid, unix.SIGKILL)
}

// cmdlineHas reports whether pid's command line has the argument arg.
func cmdlineHas(pid int, arg string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && strings.Contains(string(b), "\x00"+arg+"\x00")
}

// WaitExit blocks until process pid (not necessarily a child: a pidfd is
// polled) has exited, or ctx is done. It returns at once, true, if pid is
// already gone, or its command line does not name arg (a reused PID).
func WaitExit(ctx context.Context, pid int, arg string) bool {
	if pid <= 0 || !processAlive(pid) {
		return true
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	if !cmdlineHas(pid, arg) {
		return true
	}
	for ctx.Err() == nil {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 500)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return true
		}
		if n > 0 {
			return true
		}
	}
	return false
}

// SentryKernelMemory is the anonymous resident memory on the host of the
// sentry pid serving socket (RssAnon in /proc/PID/status): its Go heap and
// stacks, the pod's kernel memory. Application memory (the memory file, a
// memfd) is not in it. An error if pid is not that sentry.
func SentryKernelMemory(pid int, socket string) (uint64, error) {
	if pid <= 0 || !cmdlineHas(pid, socket) {
		return 0, fmt.Errorf("sentry %d of %s: %w", pid, socket, unix.ESRCH)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("sentry %d: RssAnon %q: %w", pid, v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("sentry %d: no RssAnon in its status", pid)
}
