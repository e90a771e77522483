// Package cgroups places a pod's host processes (the sentry, its ptrace stub processes and its
// gofers) into one host cgroup per pod and writes the pod's CPU, memory and pids limits there.
//
// Model: a Hierarchy describes the host's cgroup mounts under a root directory (normally
// /sys/fs/cgroup, a temporary directory in tests): either the unified cgroup v2 tree
// (root/cgroup.controllers exists) or cgroup v1 with one directory per controller
// (root/cpu, root/memory, root/pids, ...). A pod's cgroup is the relative path
// <parent>/runsc-<pod-id>, where parent is the kubelet's cgroup_parent after Expand
// (cgroupfs paths are used as they are, systemd slice names are expanded into the nested
// cgroupfs directories systemd would create; we never talk to systemd over D-Bus, we only
// write the same directories). On v1 each controller's directory is created separately;
// a controller whose hierarchy is missing or not writable is skipped (Cgroup.Skipped says
// which), so a host that delegates only some controllers still gets what it allows.
//
// A relative parent (not starting with "/") is placed under the daemon's own cgroup for each
// controller as /proc/self/cgroup reports it (on this kind of host memory may live under
// /process_api/<id> while the others are at /), an absolute one under the hierarchy's root.
//
// Locking: a Cgroup has no mutable state after Create; the files it writes are the kernel's,
// and concurrent writers of the same pod are serialized by the caller's pod lock.
package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultRoot is where the host's cgroup hierarchies are mounted.
const DefaultRoot = "/sys/fs/cgroup"

// Controllers used on v1, in the order they are created.
var v1Controllers = []string{"cpu", "cpuacct", "memory", "pids"}

// Hierarchy is the host's cgroup layout under Root.
type Hierarchy struct {
	Root string
	// V2 is true when Root is a unified cgroup v2 mount.
	V2 bool
	// Self maps a v1 controller name (or "" for v2) to the daemon's own cgroup path.
	Self map[string]string
}

// Detect inspects root (DefaultRoot when empty) and selfCgroup (the contents of
// /proc/self/cgroup; read from /proc when nil).
func Detect(root string, selfCgroup []byte) (*Hierarchy, error) {
	if root == "" {
		root = DefaultRoot
	}
	if selfCgroup == nil {
		b, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			return nil, err
		}
		selfCgroup = b
	}
	h := &Hierarchy{Root: root, Self: parseSelf(selfCgroup)}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		h.V2 = true
		return h, nil
	}
	for _, c := range v1Controllers {
		if st, err := os.Stat(filepath.Join(root, c)); err == nil && st.IsDir() {
			return h, nil
		}
	}
	return nil, fmt.Errorf("cgroups: no cgroup v1 or v2 hierarchy under %s", root)
}

// parseSelf reads /proc/self/cgroup lines "id:controllers:path".
func parseSelf(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[1] == "" {
			m[""] = f[2]
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			m[c] = f[2]
		}
	}
	return m
}

// Expand turns a kubelet cgroup_parent into a cgroupfs path. A systemd slice name
// "a-b-c.slice" becomes "/a.slice/a-b.slice/a-b-c.slice" (the nesting systemd gives slices);
// "-.slice" is the root. Anything else is returned cleaned; a relative path stays relative.
func Expand(parent string) (string, error) {
	if parent == "" {
		return "", nil
	}
	if !strings.HasSuffix(parent, ".slice") || strings.Contains(parent, "/") {
		if strings.Contains(parent, "..") {
			return "", fmt.Errorf("cgroups: parent %q: '..' not allowed", parent)
		}
		if strings.HasPrefix(parent, "/") {
			return filepath.Clean(parent), nil
		}
		return filepath.Clean(parent), nil
	}
	if parent == "-.slice" {
		return "/", nil
	}
	name := strings.TrimSuffix(parent, ".slice")
	if name == "" || strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") || strings.Contains(name, "--") {
		return "", fmt.Errorf("cgroups: invalid slice name %q", parent)
	}
	parts := strings.Split(name, "-")
	out, prefix := "", ""
	for _, p := range parts {
		if prefix != "" {
			prefix += "-"
		}
		prefix += p
		out += "/" + prefix + ".slice"
	}
	return out, nil
}

// PodPath is the cgroup path for pod id under an (unexpanded) parent.
func PodPath(parent, id string) (string, error) {
	p, err := Expand(parent)
	if err != nil {
		return "", err
	}
	if p == "" {
		p = "runsc-cri" // under the daemon's own cgroup
	}
	return filepath.Join(p, "runsc-"+id), nil
}

// Cgroup is one pod's cgroup: a directory per v1 controller, or one on v2.
type Cgroup struct {
	h *Hierarchy
	// Path is the pod's path relative to the daemon's cgroup (or absolute), as stored.
	Path string
	// Dirs maps controller (or "" on v2) to the directory created.
	Dirs map[string]string
	// Skipped lists the v1 controllers that could not be used.
	Skipped []string
}

func (h *Hierarchy) dir(ctrl, path string) string {
	mount := h.Root
	if !h.V2 {
		mount = filepath.Join(h.Root, ctrl)
	}
	if strings.HasPrefix(path, "/") {
		return filepath.Join(mount, path)
	}
	return filepath.Join(mount, h.Self[ctrl], path)
}

// Open returns the Cgroup for path without creating anything (for reattaching after a
// daemon restart); directories that do not exist are left out.
func (h *Hierarchy) Open(path string) *Cgroup {
	cg := &Cgroup{h: h, Path: path, Dirs: map[string]string{}}
	for _, c := range h.ctrls() {
		d := h.dir(c, path)
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			cg.Dirs[c] = d
		} else {
			cg.Skipped = append(cg.Skipped, c)
		}
	}
	return cg
}

func (h *Hierarchy) ctrls() []string {
	if h.V2 {
		return []string{""}
	}
	return v1Controllers
}

// Create makes the pod's cgroup directories. It fails only when none could be made.
func (h *Hierarchy) Create(path string) (*Cgroup, error) {
	cg := &Cgroup{h: h, Path: path, Dirs: map[string]string{}}
	var firstErr error
	for _, c := range h.ctrls() {
		d := h.dir(c, path)
		if st, err := os.Stat(filepath.Join(h.Root, c)); c != "" && (err != nil || !st.IsDir()) {
			cg.Skipped = append(cg.Skipped, c)
			continue
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			cg.Skipped = append(cg.Skipped, c)
			continue
		}
		cg.Dirs[c] = d
	}
	if len(cg.Dirs) == 0 {
		if firstErr == nil {
			firstErr = errors.New("no controller available")
		}
		return nil, fmt.Errorf("cgroups: create %s: %w", path, firstErr)
	}
	if h.V2 {
		// Enable the controllers we write in the parent's subtree_control (best effort:
		// the kernel refuses some when the parent has processes).
		parent := filepath.Dir(cg.Dirs[""])
		for _, c := range []string{"cpu", "memory", "pids"} {
			_ = os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+"+c), 0)
		}
	}
	return cg, nil
}

// AddPid moves process pid (all its threads) into every directory of the pod's cgroup.
func (cg *Cgroup) AddPid(pid int) error {
	file := "cgroup.procs"
	var errs []error
	for c, d := range cg.Dirs {
		if err := os.WriteFile(filepath.Join(d, file), []byte(strconv.Itoa(pid)), 0); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c, err))
		}
	}
	return errors.Join(errs...)
}

// Pids lists the processes in the pod's cgroup (from the first controller directory).
func (cg *Cgroup) Pids() ([]int, error) {
	for _, d := range cg.Dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			return nil, err
		}
		var out []int
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
		return out, nil
	}
	return nil, nil
}

// Remove deletes the pod's directories, retrying while the kernel still reports them busy
// (exiting processes leave a cgroup a little after wait returns). Missing ones are fine.
func (cg *Cgroup) Remove(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var errs []error
	for c, d := range cg.Dirs {
		for {
			err := os.Remove(d)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("%s: %w", c, err))
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// AddTree moves pid and, recursively, its child processes (e.g. the sentry's ptrace stubs
// forked before the move) into the pod's cgroup.
func (cg *Cgroup) AddTree(pid int) error {
	err := cg.AddPid(pid)
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		for _, f := range strings.Fields(string(b)) {
			if c, e := strconv.Atoi(f); e == nil && c != pid {
				err = errors.Join(err, cg.AddTree(c))
			}
		}
	}
	return err
}
