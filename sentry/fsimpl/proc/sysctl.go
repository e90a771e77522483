package proc

import (
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// sysctl is one /proc/sys file with a stored value.
type sysctl struct {
	path, def string
	rw        bool
}

// sysctlTable lists the stored /proc/sys files: their default values
// (Linux's) and whether a writer with CAP_SYS_ADMIN may change them. The
// values are the sandbox's own: written ones are read back by every
// container of the pod (they are namespaced in Linux: IPC, net, UTS); they
// change the sentry's behaviour only where it implements the feature they
// tune. The Kubernetes "safe" sysctls are all here.
var sysctlTable = []sysctl{
	{"kernel/pid_max", "4194304", true},
	{"kernel/ngroups_max", "65536", false},
	{"kernel/overflowuid", "65534", false},
	{"kernel/overflowgid", "65534", false},
	{"kernel/shmmax", "18446744073709551615", true},
	{"kernel/shmall", "18446744073709551615", true},
	{"kernel/shmmni", "4096", true},
	{"kernel/shm_rmid_forced", "0", true},
	{"kernel/msgmax", "8192", true},
	{"kernel/msgmnb", "16384", true},
	{"kernel/msgmni", "32000", true},
	{"kernel/sem", "32000\t1024000000\t500\t32000", true},
	{"kernel/randomize_va_space", "2", true},
	{"kernel/core_pattern", "core", true},
	{"kernel/random/entropy_avail", "256", false},
	{"kernel/random/poolsize", "256", false},
	{"kernel/yama/ptrace_scope", "1", false},
	{"vm/overcommit_memory", "0", true},
	{"vm/overcommit_ratio", "50", true},
	{"vm/max_map_count", "65530", true},
	{"vm/mmap_min_addr", "4096", true},
	{"vm/swappiness", "60", true},
	{"fs/file-max", "9223372036854775807", true},
	{"fs/nr_open", "1048576", true},
	{"fs/pipe-max-size", "1048576", true},
	{"fs/file-nr", "0\t0\t9223372036854775807", false},
	{"fs/inotify/max_user_watches", "8192", true},
	{"fs/inotify/max_user_instances", "128", true},
	{"fs/mqueue/msg_max", "10", true},
	{"fs/mqueue/msgsize_max", "8192", true},
	{"fs/mqueue/queues_max", "256", true},
	{"fs/mqueue/msg_default", "10", true},
	{"fs/mqueue/msgsize_default", "8192", true},
	{"net/core/somaxconn", "4096", true},
	{"net/ipv4/ip_local_port_range", "32768\t60999", true},
	{"net/ipv4/ip_local_reserved_ports", "", true},
	{"net/ipv4/ip_unprivileged_port_start", "1024", true},
	{"net/ipv4/ping_group_range", "1\t0", true},
	{"net/ipv4/tcp_syncookies", "1", true},
	{"net/ipv4/tcp_keepalive_time", "7200", true},
	{"net/ipv4/tcp_keepalive_intvl", "75", true},
	{"net/ipv4/tcp_keepalive_probes", "9", true},
	{"net/ipv4/tcp_fin_timeout", "60", true},
	{"net/ipv4/ip_forward", "0", true},
}

var sysctlIndex = func() map[string]*sysctl {
	m := map[string]*sysctl{}
	for i := range sysctlTable {
		m[sysctlTable[i].path] = &sysctlTable[i]
	}
	return m
}()

// Sysctls holds the written values of a sandbox's /proc/sys files. A pod
// keeps one and gives it to every procfs it mounts (Options.Sysctls), so
// a value set for the pod is seen by all its containers.
type Sysctls struct {
	mu   sync.Mutex
	vals map[string]string // guarded by mu
}

// NewSysctls returns a store with every file at its default.
func NewSysctls() *Sysctls { return &Sysctls{vals: map[string]string{}} }

// SysctlPath turns a sysctl name into its path below /proc/sys:
// "kernel.shm_rmid_forced" → "kernel/shm_rmid_forced"; a name with a '/'
// is a path already (sysctl(8) accepts both).
func SysctlPath(name string) string {
	if strings.Contains(name, "/") {
		return strings.Trim(name, "/")
	}
	return strings.ReplaceAll(name, ".", "/")
}

// Set sets sysctl name (either form) to value, as a write of the file by
// a privileged process would. ENOENT: the sandbox has no such file;
// EACCES: it is read-only.
func (s *Sysctls) Set(name, value string) error {
	e := sysctlIndex[SysctlPath(name)]
	if e == nil {
		return unix.ENOENT
	}
	if !e.rw {
		return unix.EACCES
	}
	s.mu.Lock()
	s.vals[e.path] = normalizeSysctl(value)
	s.mu.Unlock()
	return nil
}

// Get returns the value of the file at path (below /proc/sys).
func (s *Sysctls) Get(path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vals[path]; ok {
		return v
	}
	if e := sysctlIndex[path]; e != nil {
		return e.def
	}
	return ""
}

// normalizeSysctl trims a written value and separates its fields with
// tabs, as Linux prints vectors.
func normalizeSysctl(v string) string {
	return strings.Join(strings.Fields(v), "\t")
}
