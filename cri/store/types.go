package store

import (
	"maps"
	"slices"
)

// PodState is a pod's state (see the package comment).
type PodState string

// Pod states.
const (
	PodInit     PodState = "init"
	PodReady    PodState = "ready"
	PodNotReady PodState = "notready"
)

// Metadata names a pod or container as the kubelet does.
type Metadata struct {
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Attempt   uint32 `json:"attempt"`
}

// Pod is one pod sandbox.
type Pod struct {
	ID       string   `json:"id"`
	Metadata Metadata `json:"metadata"`
	// Config is the CRI PodSandboxConfig, protobuf-encoded.
	Config []byte `json:"config"`
	// RuntimeHandler is the RuntimeClass handler; Platform the sentry
	// platform it maps to.
	RuntimeHandler string   `json:"runtimeHandler"`
	Platform       string   `json:"platform"`
	State          PodState `json:"state"`
	// CreatedAt is Unix nanoseconds.
	CreatedAt int64 `json:"createdAt"`
	// Dir is the pod's directory (spec, /etc files, sentry log).
	Dir string `json:"dir"`
	// ControlSocket is the sentry's control socket.
	ControlSocket string `json:"controlSocket"`
	// SentryPID is the sentry's host PID (0 once it is known gone).
	SentryPID int `json:"sentryPID"`
	// Labels and Annotations are the config's, for filters.
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Reason says why the pod is NotReady (stopped, sentry died).
	Reason string `json:"reason,omitempty"`
	// Cgroup is the pod's host cgroup path (cri/cgroups; "" when none).
	Cgroup string `json:"cgroup,omitempty"`
}

// NameKey is the pod's unique name: name_namespace_uid_attempt.
func (p *Pod) NameKey() string {
	m := p.Metadata
	return m.Name + "_" + m.Namespace + "_" + m.UID + "_" + itoa(m.Attempt)
}

func (p *Pod) clone() *Pod {
	c := *p
	c.Config = slices.Clone(p.Config)
	c.Labels = maps.Clone(p.Labels)
	c.Annotations = maps.Clone(p.Annotations)
	return &c
}

// ContainerState is a container's state (see the package comment).
type ContainerState string

// Container states.
const (
	ContainerCreated ContainerState = "created"
	ContainerRunning ContainerState = "running"
	ContainerExited  ContainerState = "exited"
)

// Container is one container.
type Container struct {
	ID       string   `json:"id"`
	PodID    string   `json:"podID"`
	Metadata Metadata `json:"metadata"`
	// Config is the CRI ContainerConfig, protobuf-encoded.
	Config []byte `json:"config"`
	// Resources is the last LinuxContainerResources set by
	// UpdateContainerResources, protobuf-encoded (nil: the config's).
	Resources []byte `json:"resources,omitempty"`
	// ImageID is the image's ID; ImageRef the name the kubelet gave.
	ImageID  string         `json:"imageID"`
	ImageRef string         `json:"imageRef"`
	State    ContainerState `json:"state"`
	// Times are Unix nanoseconds (0: not yet).
	CreatedAt  int64 `json:"createdAt"`
	StartedAt  int64 `json:"startedAt,omitempty"`
	FinishedAt int64 `json:"finishedAt,omitempty"`
	ExitCode   int32 `json:"exitCode"`
	// Reason and Message explain an exit (Completed, Error, OOMKilled,
	// SandboxDied...).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// LogPath is the container's log file on the host ("" for none).
	LogPath string `json:"logPath,omitempty"`
	// RootfsKey is the snapshot key of its rootfs; RootfsDir the host
	// directory its rootfs (with its mounts inside) is mounted on.
	RootfsKey string `json:"rootfsKey"`
	RootfsDir string `json:"rootfsDir"`
	// HostMounts are the host mount points made for it, innermost
	// last (unmounted in reverse order).
	HostMounts []string `json:"hostMounts,omitempty"`
	// VolumeKeys are the snapshot keys of its image volumes.
	VolumeKeys []string `json:"volumeKeys,omitempty"`
	// GoferPID is the host PID of its gofer.
	GoferPID int `json:"goferPID,omitempty"`
	// Process is the container's resolved init process (also the
	// defaults of an exec in it).
	Process Process `json:"process"`
	// StopSignal is the image's STOPSIGNAL ("" for SIGTERM).
	StopSignal string `json:"stopSignal,omitempty"`
	// Labels and Annotations are the config's, for filters.
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// NameKey is the container's unique name in its pod:
// name_podID_attempt.
func (c *Container) NameKey() string {
	return c.Metadata.Name + "_" + c.PodID + "_" + itoa(c.Metadata.Attempt)
}

func (c *Container) clone() *Container {
	n := *c
	n.Config = slices.Clone(c.Config)
	n.Resources = slices.Clone(c.Resources)
	n.HostMounts = slices.Clone(c.HostMounts)
	n.VolumeKeys = slices.Clone(c.VolumeKeys)
	n.Process.Args = slices.Clone(c.Process.Args)
	n.Process.Env = slices.Clone(c.Process.Env)
	n.Process.Groups = slices.Clone(c.Process.Groups)
	n.Labels = maps.Clone(c.Labels)
	n.Annotations = maps.Clone(c.Annotations)
	return &n
}

func itoa(u uint32) string {
	if u == 0 {
		return "0"
	}
	var b [10]byte
	i := len(b)
	for u > 0 {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
	}
	return string(b[i:])
}

// Process is a resolved process: image config and CRI config merged,
// user names looked up.
type Process struct {
	Args   []string `json:"args"`
	Env    []string `json:"env,omitempty"`
	Cwd    string   `json:"cwd"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	// Caps are the capability sets (nil: the sentry's default); exec'd
	// processes get the same.
	Caps *Caps `json:"caps,omitempty"`
	// NoNewPrivs: execve never grants privileges (set-user-ID bits).
	NoNewPrivs bool `json:"noNewPrivs,omitempty"`
	// Seccomp is the compiled seccomp filter (struct sock_filter
	// entries) of every process of the container, nil for none.
	Seccomp []byte `json:"seccomp,omitempty"`
}

// Caps are capability sets, bit n for capability n.
type Caps struct {
	Bounding    uint64 `json:"bounding"`
	Effective   uint64 `json:"effective"`
	Permitted   uint64 `json:"permitted"`
	Inheritable uint64 `json:"inheritable"`
	Ambient     uint64 `json:"ambient"`
}
