// Package boot builds a running sandbox from a Spec: the memory file, the
// platform, the mount tree (the gofer-served root, /proc, /sys, /dev, tmpfs
// mounts), the kernel with the syscall table, and the first process with
// its stdio; then it waits for the sandbox to end.
//
// `runsc-cri do` calls Run in its own process after starting the gofer;
// `runsc-cri boot` reads a Spec from a file and does the same (the CRI daemon
// will start sentries that way).
package boot

// Spec describes one sandbox.
type Spec struct {
	// Platform names the platform ("ptrace").
	Platform string `json:"platform"`
	// MemoryLimit is the most application memory the sandbox may use, in
	// bytes (the size of the memory file).
	MemoryLimit uint64 `json:"memoryLimit"`
	// MaxTasks bounds the number of threads in the sandbox.
	MaxTasks int `json:"maxTasks"`
	// RootGoferFD is a connected socket to the gofer serving the root
	// filesystem; RootReadOnly mounts it read-only.
	RootGoferFD  int  `json:"rootGoferFD"`
	RootReadOnly bool `json:"rootReadOnly"`
	// TmpfsMounts are extra tmpfs mounts (e.g. /tmp over a read-only root).
	TmpfsMounts []string `json:"tmpfsMounts,omitempty"`
	// Process is the first process.
	Process Process `json:"process"`
	// Hostname is the sandbox's UTS hostname.
	Hostname string `json:"hostname"`
	// Debug logs every system call.
	Debug bool `json:"debug"`
}

// Process is the command to run.
type Process struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
	UID  uint32   `json:"uid"`
	GID  uint32   `json:"gid"`
	// Groups are supplementary groups.
	Groups []uint32 `json:"groups,omitempty"`
	// Stdio are host fds that become the process's 0, 1 and 2.
	Stdio [3]int `json:"stdio"`
	// Umask of the process (default 022).
	Umask *uint32 `json:"umask,omitempty"`
	// Privileged gives the process every capability (as a privileged
	// container's root: mount, pivot_root, ...) instead of the OCI
	// default set.
	Privileged bool `json:"privileged,omitempty"`
}

// Defaults for a Spec's zero fields.
const (
	DefaultMemoryLimit = 8 << 30
	DefaultMaxTasks    = 4096
)
