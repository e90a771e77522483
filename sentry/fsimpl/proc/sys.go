package proc

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// sysDir builds /proc/sys: the stored files of sysctlTable (values in the
// pod's Sysctls; a write by a caller with CAP_SYS_ADMIN replaces the value)
// and a few generated ones.
func (fs *filesystem) sysDir() vfs.Inode {
	// Generated files, by path.
	special := map[string]entry{
		"kernel/hostname": fileEntry("hostname", func() vfs.Inode {
			return fs.newFile("/sys/kernel/hostname", 0o644,
				func(vfs.Context) ([]byte, error) { return []byte(fs.k.Hostname() + "\n"), nil },
				func(ctx vfs.Context, data []byte) error {
					if err := requireAdmin(ctx, data); err != nil {
						return err
					}
					h := strings.TrimRight(string(data), "\n")
					if len(h) > 64 {
						return unix.EINVAL
					}
					fs.k.SetHostname(h)
					return nil
				})
		}),
		"kernel/random/uuid": fileEntry("uuid", func() vfs.Inode {
			return fs.newFile("/sys/kernel/random/uuid", 0o444, func(vfs.Context) ([]byte, error) {
				return []byte(newUUID() + "\n"), nil
			}, nil)
		}),
		"kernel/random/boot_id": fileEntry("boot_id", func() vfs.Inode {
			return fs.newFile("/sys/kernel/random/boot_id", 0o444, static(fs.bootID+"\n"), nil)
		}),
		"kernel/threads-max": fileEntry("threads-max", func() vfs.Inode {
			return fs.newFile("/sys/kernel/threads-max", 0o644, func(vfs.Context) ([]byte, error) {
				return []byte(strconv.Itoa(fs.k.MaxTasks()) + "\n"), nil
			}, requireAdmin)
		}),
		"kernel/ostype":    fileEntry("ostype", func() vfs.Inode { return fs.newFile("/sys/kernel/ostype", 0o444, static("Linux\n"), nil) }),
		"kernel/osrelease": fileEntry("osrelease", func() vfs.Inode { return fs.newFile("/sys/kernel/osrelease", 0o444, static(fs.opts.Release+"\n"), nil) }),
		"kernel/version": fileEntry("version", func() vfs.Inode {
			return fs.newFile("/sys/kernel/version", 0o444, static("#1 SMP Sun Jan 10 15:06:54 PST 2016\n"), nil)
		}),
		"kernel/cap_last_cap": fileEntry("cap_last_cap", func() vfs.Inode {
			return fs.newFile("/sys/kernel/cap_last_cap", 0o444, static(strconv.Itoa(auth.CapLast)+"\n"), nil)
		}),
	}
	// children[dir] are the entries of each directory ("" is /proc/sys).
	children := map[string][]entry{}
	dirs := map[string]bool{}
	var addDirs func(p string)
	addDirs = func(p string) {
		parent, name := splitPath(p)
		if dirs[p] {
			return
		}
		dirs[p] = true
		if parent != "" {
			addDirs(parent)
		}
		children[parent] = append(children[parent], dirEntry(name, func() vfs.Inode {
			return fs.newDir("/sys/"+p, 0o555, children[p])
		}))
	}
	add := func(p string, e entry) {
		parent, _ := splitPath(p)
		if parent != "" {
			addDirs(parent)
		}
		children[parent] = append(children[parent], e)
	}
	for p, e := range special {
		add(p, e)
	}
	for i := range sysctlTable {
		e := &sysctlTable[i]
		_, name := splitPath(e.path)
		add(e.path, fileEntry(name, func() vfs.Inode { return fs.sysctlFile(e) }))
	}
	return fs.newDir("/sys", 0o555, children[""])
}

// sysctlFile is the file of a stored sysctl.
func (fs *filesystem) sysctlFile(e *sysctl) vfs.Inode {
	gen := func(vfs.Context) ([]byte, error) { return []byte(fs.sysctls.Get(e.path) + "\n"), nil }
	if !e.rw {
		return fs.newFile("/sys/"+e.path, 0o444, gen, nil)
	}
	return fs.newFile("/sys/"+e.path, 0o644, gen, func(ctx vfs.Context, data []byte) error {
		if err := requireAdmin(ctx, data); err != nil {
			return err
		}
		return fs.sysctls.Set(e.path, string(data))
	})
}

// splitPath splits "a/b/c" into "a/b" and "c".
func splitPath(p string) (string, string) {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

// requireAdmin refuses a write from a caller without CAP_SYS_ADMIN, as
// Linux does for the sysctls of a container's namespaces.
func requireAdmin(ctx vfs.Context, data []byte) error {
	if c := ctx.Credentials(); c == nil || !c.HasCapability(auth.CapSysAdmin) {
		return unix.EPERM
	}
	return nil
}
