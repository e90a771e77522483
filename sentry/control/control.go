// Package control is the protocol between the CRI daemon and a pod's
// sentry: method names, request and response types, and the framing. It is
// deliberately small and imports nothing of the sentry, so the daemon can
// use it without pulling in sentry internals (DESIGN.md: "the daemon never
// imports sentry internals").
//
// Transport. The sentry listens on a unix SOCK_SEQPACKET socket (its path is
// in the pod's state directory, so a restarted daemon can reconnect). Every
// call is one connection: the client connects, sends one message — a JSON
// Request, with file descriptors attached as SCM_RIGHTS when the call
// carries streams (container stdio, a log file, an exec's stdio) — and reads
// one message back, a JSON Response. Long calls (Wait) simply keep their
// connection open; calls run concurrently on separate connections.
//
// File descriptors travel in the order the request's FD-index fields name
// them (index into the attached list).
package control

// Method names.
const (
	// MethodCreateContainer creates a container (a root filesystem and a
	// process spec) without starting it. Request: CreateContainerRequest.
	MethodCreateContainer = "CreateContainer"
	// MethodStartContainer starts a created container's process.
	// Request: ContainerRequest.
	MethodStartContainer = "StartContainer"
	// MethodSignal sends a signal to a container's init process or to
	// all its processes. Request: SignalRequest.
	MethodSignal = "Signal"
	// MethodWait blocks until a container's init process exits and
	// returns its status. Request: ContainerRequest; Response.Result:
	// WaitResult.
	MethodWait = "Wait"
	// MethodExec starts an extra process in a running container.
	// Request: ExecRequest; Response.Result: ExecResult.
	MethodExec = "Exec"
	// MethodWaitPID waits for a process started by Exec.
	// Request: WaitPIDRequest; Response.Result: WaitResult.
	MethodWaitPID = "WaitPID"
	// MethodResize changes the terminal size of a process with a tty.
	// Request: ResizeRequest.
	MethodResize = "Resize"
	// MethodRemoveContainer forgets a container whose processes are gone
	// (killing any that are left). Request: ContainerRequest.
	MethodRemoveContainer = "RemoveContainer"
	// MethodReopenLog makes a container write its log to a new file
	// descriptor. Request: ReopenLogRequest (one fd attached).
	MethodReopenLog = "ReopenLog"
	// MethodStats returns CPU and memory figures. Request:
	// StatsRequest; Response.Result: StatsResult.
	MethodStats = "Stats"
	// MethodProcesses lists a container's processes. Request:
	// ContainerRequest; Response.Result: ProcessesResult.
	MethodProcesses = "Processes"
	// MethodPing checks that the sentry answers. Response.Result: PingResult.
	MethodPing = "Ping"
	// MethodShutdown kills every process and ends the sentry.
	MethodShutdown = "Shutdown"
)

// Request is one call.
type Request struct {
	Method string `json:"method"`
	// Params is the method's request type, JSON-encoded.
	Params []byte `json:"params,omitempty"`
}

// Response is the answer to one call.
type Response struct {
	// Error is empty on success. Errno is the Linux errno behind it when
	// there is one (ENOENT for an unknown container, EEXIST, EINVAL...).
	Error string `json:"error,omitempty"`
	Errno int    `json:"errno,omitempty"`
	// Result is the method's result type, JSON-encoded.
	Result []byte `json:"result,omitempty"`
}

// Mount is one filesystem in a container.
type Mount struct {
	// Destination is the absolute path inside the container.
	Destination string `json:"destination"`
	// Type is "bind" (served by the pod's gofer: Source is the path
	// relative to the gofer root, or GoferFD names a connection to a
	// gofer serving it), "tmpfs", "proc", "sysfs", "devpts", "mqueue".
	Type     string   `json:"type"`
	Source   string   `json:"source,omitempty"`
	GoferFD  int      `json:"goferFD"` // index into the attached fds, -1 if none
	ReadOnly bool     `json:"readOnly,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// Process describes a process to run.
type Process struct {
	Args   []string `json:"args"`
	Env    []string `json:"env,omitempty"`
	Cwd    string   `json:"cwd,omitempty"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	// Terminal: the process runs on a pseudo-terminal that the daemon
	// allocated: Stdin names its slave side (opened read-write; Stdout and
	// Stderr may name the same fd or be -1), which becomes the controlling
	// terminal of the process's session (/dev/tty). The daemon keeps the
	// master; Resize sets the slave's window size and sends SIGWINCH.
	Terminal bool `json:"terminal,omitempty"`
	// Stdin, Stdout, Stderr are indexes into the attached fds, -1 for
	// none (/dev/null).
	Stdin  int `json:"stdin"`
	Stdout int `json:"stdout"`
	Stderr int `json:"stderr"`
	// StdinOnce: stdin is closed after the first client detaches.
	StdinOnce bool `json:"stdinOnce,omitempty"`
	// Umask, if set.
	Umask *uint32 `json:"umask,omitempty"`
	// Capabilities, if set, are the process's capability sets exactly
	// (the daemon applies execve's rules: a non-root user keeps none in
	// effective/permitted). nil: the OCI default set, effective and
	// permitted for uid 0 only.
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	// NoNewPrivileges sets the process's no_new_privs bit: execve never
	// grants privileges (set-user-ID and set-group-ID bits are ignored).
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
	// OpenStdin (CreateContainer only, without Terminal and with Stdin
	// -1): the init's stdin is a pipe whose write end the sentry keeps
	// for Attach (attach.go). With Terminal and Stdin -1 the sentry opens
	// the pseudo-terminal itself and keeps its master; OpenStdin then says
	// whether Attach may write to it.
	OpenStdin bool `json:"openStdin,omitempty"`
	// Seccomp, if set, is a classic BPF seccomp program (struct
	// sock_filter entries, 8 bytes each, little-endian) installed on the
	// process before its first instruction, whatever its privileges
	// (the container's seccomp profile, cri/seccomp).
	Seccomp []byte `json:"seccomp,omitempty"`
}

// Capabilities are capability sets: bit n is capability n (CAP_CHOWN is
// bit 0, CAP_SYS_ADMIN bit 21, ...).
type Capabilities struct {
	Bounding    uint64 `json:"bounding"`
	Effective   uint64 `json:"effective"`
	Permitted   uint64 `json:"permitted"`
	Inheritable uint64 `json:"inheritable"`
	Ambient     uint64 `json:"ambient"`
}

// CreateContainerRequest creates a container.
type CreateContainerRequest struct {
	ID string `json:"id"`
	// RootGoferFD is the index of a connection to the gofer serving the
	// container's root filesystem; RootReadOnly mounts it read-only.
	RootGoferFD  int     `json:"rootGoferFD"`
	RootReadOnly bool    `json:"rootReadOnly,omitempty"`
	Mounts       []Mount `json:"mounts,omitempty"`
	Process      Process `json:"process"`
	// LogFD is the index of the CRI log file (opened for appending):
	// stdout and stderr are written there in the CRI log format unless the
	// process has its own Stdout/Stderr fds. -1: no log.
	LogFD    int    `json:"logFD"`
	Hostname string `json:"hostname,omitempty"`
	// MaskedPaths are hidden once every mount is made: a directory
	// under an empty read-only tmpfs, a file under an empty read-only
	// file without permissions (so it cannot be executed); paths that do
	// not exist are skipped.
	MaskedPaths []string `json:"maskedPaths,omitempty"`
	// ReadonlyPaths are bound read-only onto themselves (not recursively:
	// mounts below them keep their own flags); missing ones are skipped.
	ReadonlyPaths []string `json:"readonlyPaths,omitempty"`
	// MemoryLimit is the container's memory limit in bytes (0: none;
	// see UpdateResourcesRequest for what it covers).
	MemoryLimit uint64 `json:"memoryLimit,omitempty"`
}

// ContainerRequest names a container.
type ContainerRequest struct {
	ID string `json:"id"`
}

// SignalRequest signals a container.
type SignalRequest struct {
	ID     string `json:"id"`
	Signal int    `json:"signal"`
	// All sends the signal to every process of the container instead of
	// its init process only.
	All bool `json:"all,omitempty"`
	// PID, if not 0, sends the signal to that process (one started by
	// Exec, as ExecResult.PID names it) instead (ExecSync timeouts).
	PID int `json:"pid,omitempty"`
}

// WaitResult is an exit status.
type WaitResult struct {
	// ExitCode is the exit code, or 128+signal for a signal death.
	ExitCode int `json:"exitCode"`
	// Signaled is true for a signal death; Signal names it.
	Signaled bool `json:"signaled,omitempty"`
	Signal   int  `json:"signal,omitempty"`
	// FinishedAt is the exit time in Unix nanoseconds.
	FinishedAt int64 `json:"finishedAt"`
	// OOMKilled is set (by Wait) when a process of the container was
	// killed for lack of memory (its limit or the pod's).
	OOMKilled bool `json:"oomKilled,omitempty"`
}

// ExecRequest starts a process in a container.
type ExecRequest struct {
	ID      string  `json:"id"`
	Process Process `json:"process"`
}

// ExecResult identifies an exec'd process.
type ExecResult struct {
	PID int `json:"pid"`
}

// WaitPIDRequest waits for an exec'd process.
type WaitPIDRequest struct {
	ID  string `json:"id"`
	PID int    `json:"pid"`
}

// ResizeRequest resizes a process's terminal (PID 0: the container's init).
type ResizeRequest struct {
	ID     string `json:"id"`
	PID    int    `json:"pid"`
	Width  uint16 `json:"width"`
	Height uint16 `json:"height"`
}

// ReopenLogRequest replaces a container's log file (fd index 0).
type ReopenLogRequest struct {
	ID string `json:"id"`
}

// StatsRequest asks for one container's figures, or the whole sandbox's
// when ID is empty.
type StatsRequest struct {
	ID string `json:"id,omitempty"`
}

// StatsResult are resource figures.
type StatsResult struct {
	// Timestamp in Unix nanoseconds.
	Timestamp int64 `json:"timestamp"`
	// CPUNanos is cumulative CPU time used.
	CPUNanos uint64 `json:"cpuNanos"`
	// MemoryBytes is the working set: for a container the memory
	// charged to it (UpdateResourcesRequest says what counts), for the
	// pod everything its memory file holds. MemoryLimit is the
	// container's limit, or the sandbox's when it has none (or for
	// the pod).
	MemoryBytes uint64 `json:"memoryBytes"`
	MemoryLimit uint64 `json:"memoryLimit"`
	// Processes is the number of live processes.
	Processes int `json:"processes"`
	// OOMKills counts processes killed for lack of memory (a
	// container's only).
	OOMKills int `json:"oomKills,omitempty"`
	// CPUUserNanos and CPUSystemNanos split CPUNanos: time in
	// application code, and in the sentry on the tasks' behalf.
	CPUUserNanos   uint64 `json:"cpuUserNanos,omitempty"`
	CPUSystemNanos uint64 `json:"cpuSystemNanos,omitempty"`
	// Threads is the number of live tasks; FileDescriptors the open file
	// descriptors (each fd table counted once), Sockets those that are
	// sockets.
	Threads         int `json:"threads,omitempty"`
	FileDescriptors int `json:"fileDescriptors,omitempty"`
	Sockets         int `json:"sockets,omitempty"`
	// PageFaults counts the page faults taken (exited tasks included);
	// all are minor: the sentry does not tell a fault that waited for the
	// gofer apart.
	PageFaults uint64 `json:"pageFaults,omitempty"`
	// MemoryPeakBytes is the highest MemoryBytes seen, MemoryFailcnt the
	// number of charges refused at the limit (a container's only).
	MemoryPeakBytes uint64 `json:"memoryPeakBytes,omitempty"`
	MemoryFailcnt   uint64 `json:"memoryFailcnt,omitempty"`
	// Interfaces are the pod's network interfaces and their counters
	// (the pod's only; empty while its network stack is not built).
	Interfaces []InterfaceStats `json:"interfaces,omitempty"`
}

// InterfaceStats are one network interface's counters.
type InterfaceStats struct {
	Name      string `json:"name"`
	RxBytes   uint64 `json:"rxBytes"`
	RxPackets uint64 `json:"rxPackets"`
	TxBytes   uint64 `json:"txBytes"`
	TxPackets uint64 `json:"txPackets"`
}

// ProcessInfo is one process of a container.
type ProcessInfo struct {
	PID  int      `json:"pid"`
	PPID int      `json:"ppid"`
	Args []string `json:"args"`
}

// ProcessesResult lists processes.
type ProcessesResult struct {
	Processes []ProcessInfo `json:"processes"`
}

// PingResult says who answered.
type PingResult struct {
	PID     int    `json:"pid"`
	Version string `json:"version"`
}
