package proc

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// sysDir builds /proc/sys. Values are the sandbox's; writes are accepted
// where a program commonly writes and ignored unless noted.
func (fs *filesystem) sysDir() vfs.Inode {
	ro := func(path, value string) entry {
		name := path[strings.LastIndexByte(path, '/')+1:]
		return fileEntry(name, func() vfs.Inode { return fs.newFile("/sys/"+path, 0o444, static(value+"\n"), nil) })
	}
	rw := func(path, value string) entry {
		name := path[strings.LastIndexByte(path, '/')+1:]
		return fileEntry(name, func() vfs.Inode {
			return fs.newFile("/sys/"+path, 0o644, static(value+"\n"), requireAdmin)
		})
	}
	dir := func(path string, entries ...entry) entry {
		name := path[strings.LastIndexByte(path, '/')+1:]
		return dirEntry(name, func() vfs.Inode { return fs.newDir("/sys/"+path, 0o555, entries) })
	}
	hostname := fileEntry("hostname", func() vfs.Inode {
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
	})
	uuid := fileEntry("uuid", func() vfs.Inode {
		return fs.newFile("/sys/kernel/random/uuid", 0o444, func(vfs.Context) ([]byte, error) {
			return []byte(newUUID() + "\n"), nil
		}, nil)
	})
	threadsMax := fileEntry("threads-max", func() vfs.Inode {
		return fs.newFile("/sys/kernel/threads-max", 0o644, func(vfs.Context) ([]byte, error) {
			return []byte(strconv.Itoa(fs.k.MaxTasks()) + "\n"), nil
		}, requireAdmin)
	})
	d := fs.newDir("/sys", 0o555, []entry{
		dir("kernel",
			hostname,
			ro("kernel/ostype", "Linux"),
			ro("kernel/osrelease", fs.opts.Release),
			ro("kernel/version", "#1 SMP Sun Jan 10 15:06:54 PST 2016"),
			rw("kernel/pid_max", "4194304"),
			ro("kernel/ngroups_max", "65536"),
			ro("kernel/cap_last_cap", strconv.Itoa(auth.CapLast)),
			ro("kernel/overflowuid", "65534"),
			ro("kernel/overflowgid", "65534"),
			threadsMax,
			rw("kernel/shmmax", "18446744073709551615"),
			rw("kernel/shmall", "18446744073709551615"),
			rw("kernel/shmmni", "4096"),
			rw("kernel/randomize_va_space", "2"),
			rw("kernel/core_pattern", "core"),
			dir("kernel/random",
				ro("kernel/random/boot_id", fs.bootID),
				uuid,
				ro("kernel/random/entropy_avail", "256"),
				ro("kernel/random/poolsize", "256"),
			),
			dir("kernel/yama", ro("kernel/yama/ptrace_scope", "1")),
		),
		dir("vm",
			rw("vm/overcommit_memory", "0"),
			rw("vm/overcommit_ratio", "50"),
			rw("vm/max_map_count", "65530"),
			rw("vm/mmap_min_addr", "4096"),
			rw("vm/swappiness", "60"),
		),
		dir("fs",
			rw("fs/file-max", "9223372036854775807"),
			rw("fs/nr_open", "1048576"),
			rw("fs/pipe-max-size", "1048576"),
			ro("fs/file-nr", "0\t0\t9223372036854775807"),
			dir("fs/inotify",
				rw("fs/inotify/max_user_watches", "8192"),
				rw("fs/inotify/max_user_instances", "128"),
			),
		),
		dir("net",
			dir("net/core", rw("net/core/somaxconn", "4096")),
			dir("net/ipv4",
				rw("net/ipv4/ip_local_port_range", "32768\t60999"),
				rw("net/ipv4/tcp_keepalive_time", "7200"),
			),
		),
	})
	return d
}

// requireAdmin accepts (and ignores) a write from a caller with
// CAP_SYS_ADMIN, as writing those sysctls would be allowed in a container
// with it.
func requireAdmin(ctx vfs.Context, data []byte) error {
	if c := ctx.Credentials(); c == nil || !c.HasCapability(auth.CapSysAdmin) {
		return unix.EPERM
	}
	return nil
}
