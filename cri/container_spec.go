package cri

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
)

// defaultPath is PATH when neither the image nor the config sets one.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// resolveProcess merges the image config and the container config the way
// containerd does, and looks user and group names up in the rootfs
// (mounted at rootfs on the host).
//
//   - argv: the config's command, else the image's Entrypoint (unless
//     it is [""]); then the config's args, else (with no command) the
//     image's Cmd.
//   - env: PATH default, the image's Env, HOSTNAME, then the config's envs,
//     later values of a key replacing earlier ones.
//   - cwd: the config's working_dir, else the image's WorkingDir, else /.
//   - user: the security context's run_as_user / run_as_username /
//     run_as_group, else the image's User ("name", "uid", "uid:gid",
//     "name:group"), names resolved from /etc/passwd and /etc/group of the
//     rootfs (run_as_group without a user is InvalidArgument, as in
//     containerd); supplementary groups are the user's groups in /etc/group
//     plus the security context's supplemental_groups.
func resolveProcess(img *ocispec.ImageConfig, cfg *runtimeapi.ContainerConfig, hostname, rootfs string) (store.Process, error) {
	var p store.Process
	command, args := cfg.GetCommand(), cfg.GetArgs()
	if len(command) == 0 {
		if len(args) == 0 {
			args = append([]string(nil), img.Cmd...)
		}
		if !(len(img.Entrypoint) == 1 && img.Entrypoint[0] == "") {
			command = append([]string(nil), img.Entrypoint...)
		}
	}
	p.Args = append(append([]string(nil), command...), args...)
	if len(p.Args) == 0 {
		return p, fmt.Errorf("no command specified by the container config or the image: %w", ErrInvalidArgument)
	}

	env := []string{defaultPath}
	env = mergeEnv(env, img.Env)
	if hostname != "" {
		env = mergeEnv(env, []string{"HOSTNAME=" + hostname})
	}
	for _, kv := range cfg.GetEnvs() {
		env = mergeEnv(env, []string{kv.Key + "=" + string(kv.Value)})
	}
	p.Env = env

	p.Cwd = cfg.GetWorkingDir()
	if p.Cwd == "" {
		p.Cwd = img.WorkingDir
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}

	sc := cfg.GetLinux().GetSecurityContext()
	if sc.GetRunAsGroup() != nil && sc.GetRunAsUser() == nil && sc.GetRunAsUsername() == "" {
		// As containerd: a group without a user is a malformed request
		// (the image's user would silently be combined with it).
		return p, fmt.Errorf("run_as_group %d is set without run_as_user or run_as_username: %w",
			sc.GetRunAsGroup().GetValue(), ErrInvalidArgument)
	}
	userSpec := img.User
	switch {
	case sc.GetRunAsUser() != nil:
		userSpec = strconv.FormatInt(sc.GetRunAsUser().GetValue(), 10)
	case sc.GetRunAsUsername() != "":
		userSpec = sc.GetRunAsUsername()
	}
	user, group, _ := strings.Cut(userSpec, ":")
	if sc.GetRunAsGroup() != nil {
		group = strconv.FormatInt(sc.GetRunAsGroup().GetValue(), 10)
	}
	passwd, _ := readInRoot(rootfs, "/etc/passwd")
	groups, _ := readInRoot(rootfs, "/etc/group")
	userName := ""
	if user != "" {
		if uid, err := strconv.ParseUint(user, 10, 32); err == nil {
			p.UID, p.GID = uint32(uid), 0
			if e, ok := findEntry(passwd, func(f []string) bool { return len(f) > 3 && f[2] == user }); ok {
				userName = e[0]
				if gid, err := strconv.ParseUint(e[3], 10, 32); err == nil {
					p.GID = uint32(gid)
				}
			}
		} else {
			e, ok := findEntry(passwd, func(f []string) bool { return len(f) > 3 && f[0] == user })
			if !ok {
				return p, fmt.Errorf("user %q: no such user in the image's /etc/passwd: %w", user, ErrInvalidArgument)
			}
			uid, err1 := strconv.ParseUint(e[2], 10, 32)
			gid, err2 := strconv.ParseUint(e[3], 10, 32)
			if err1 != nil || err2 != nil {
				return p, fmt.Errorf("user %q: malformed /etc/passwd entry: %w", user, ErrInvalidArgument)
			}
			p.UID, p.GID, userName = uint32(uid), uint32(gid), user
		}
	}
	if group != "" {
		if gid, err := strconv.ParseUint(group, 10, 32); err == nil {
			p.GID = uint32(gid)
		} else {
			e, ok := findEntry(groups, func(f []string) bool { return len(f) > 2 && f[0] == group })
			if !ok {
				return p, fmt.Errorf("group %q: no such group in the image's /etc/group: %w", group, ErrInvalidArgument)
			}
			gid, err := strconv.ParseUint(e[2], 10, 32)
			if err != nil {
				return p, fmt.Errorf("group %q: malformed /etc/group entry: %w", group, ErrInvalidArgument)
			}
			p.GID = uint32(gid)
		}
	}
	seen := map[uint32]bool{}
	if userName != "" {
		for _, f := range entries(groups) {
			if len(f) < 4 {
				continue
			}
			for _, m := range strings.Split(f[3], ",") {
				if m == userName {
					if gid, err := strconv.ParseUint(f[2], 10, 32); err == nil && !seen[uint32(gid)] {
						seen[uint32(gid)] = true
						p.Groups = append(p.Groups, uint32(gid))
					}
				}
			}
		}
	}
	for _, g := range sc.GetSupplementalGroups() {
		if !seen[uint32(g)] {
			seen[uint32(g)] = true
			p.Groups = append(p.Groups, uint32(g))
		}
	}
	return p, nil
}

// mergeEnv sets each KEY=VALUE of add in env, replacing an earlier KEY.
func mergeEnv(env, add []string) []string {
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, e := range env {
			if ek, _, _ := strings.Cut(e, "="); ek == k {
				env[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			env = append(env, kv)
		}
	}
	return env
}

// readInRoot reads file name of the tree at root, resolving every
// component inside root (an image's symlinks cannot reach host files).
func readInRoot(root, name string) ([]byte, error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootFD)
	fd, err := unix.Openat2(rootFD, strings.TrimPrefix(name, "/"), &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New(name + " is not a regular file")
	}
	buf := make([]byte, 1<<20)
	n, _ := f.Read(buf)
	return buf[:n], nil
}

// entries splits a passwd/group file into colon-separated fields.
func entries(b []byte) [][]string {
	var out [][]string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out
}

func findEntry(b []byte, match func([]string) bool) ([]string, bool) {
	for _, f := range entries(b) {
		if match(f) {
			return f, true
		}
	}
	return nil, false
}

// signalNumber parses a STOPSIGNAL ("SIGTERM", "TERM", "15"); "" and
// unknown names are SIGTERM.
func signalNumber(name string) int {
	if name == "" {
		return int(unix.SIGTERM)
	}
	if n, err := strconv.Atoi(name); err == nil && n > 0 && n < 65 {
		return n
	}
	up := strings.ToUpper(name)
	if !strings.HasPrefix(up, "SIG") {
		up = "SIG" + up
	}
	if s := unix.SignalNum(up); s != 0 {
		return int(s)
	}
	return int(unix.SIGTERM)
}
