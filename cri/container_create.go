package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/images"
	"github.com/runsc-cri/runsc-cri/cri/sandbox"
	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// CreateContainer implements CRI CreateContainer: it prepares the
// container's rootfs from its image, mounts its volumes inside it, starts
// its gofer and creates it (not started) in the pod's sentry. A failure at
// any step undoes every earlier one (snapshot, mounts, log file, gofer,
// the sentry's container, the record).
func (s *Server) CreateContainer(ctx context.Context, r *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	id, err := s.createContainer(ctx, r)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

func (s *Server) createContainer(ctx context.Context, r *runtimeapi.CreateContainerRequest) (_ string, retErr error) {
	cfg := r.GetConfig()
	md := cfg.GetMetadata()
	if md == nil || md.Name == "" {
		return "", fmt.Errorf("CreateContainer: config.metadata.name is required: %w", ErrInvalidArgument)
	}
	if cfg.GetImage().GetImage() == "" {
		return "", fmt.Errorf("CreateContainer %q: config.image is required: %w", md.Name, ErrInvalidArgument)
	}
	podID, err := s.store.ResolvePod(r.GetPodSandboxId())
	if err != nil {
		return "", fmt.Errorf("CreateContainer %q: %w", md.Name, err)
	}
	unlock := s.podLocks.lock(podID)
	defer unlock()
	pod, err := s.store.Pod(podID)
	if err != nil {
		return "", err
	}
	if pod.State != store.PodReady {
		return "", fmt.Errorf("CreateContainer %q: pod sandbox %s is not ready: %w", md.Name, podID, ErrFailedPrecondition)
	}
	sc := cfg.GetLinux().GetSecurityContext()
	if err := checkPrivileged(cfg, podConfig(&pod)); err != nil {
		return "", fmt.Errorf("CreateContainer %q: %w", md.Name, err)
	}
	if err := checkSeccomp(sc); err != nil {
		return "", fmt.Errorf("CreateContainer %q: %w", md.Name, err)
	}
	img, err := s.images.Get(ctx, cfg.GetImage().GetImage())
	if err != nil {
		return "", fmt.Errorf("CreateContainer %q: %w", md.Name, err)
	}
	if err := s.resolveImageVolumes(ctx, cfg); err != nil {
		return "", fmt.Errorf("CreateContainer %q: %w", md.Name, err)
	}
	raw, err := proto.Marshal(cfg)
	if err != nil {
		return "", err
	}
	c := store.Container{
		PodID:       podID,
		Metadata:    store.Metadata{Name: md.Name, Attempt: md.Attempt},
		Config:      raw,
		ImageID:     img.ID,
		ImageRef:    cfg.GetImage().GetImage(),
		State:       store.ContainerCreated,
		CreatedAt:   time.Now().UnixNano(),
		StopSignal:  img.Config.Config.StopSignal,
		Labels:      cfg.GetLabels(),
		Annotations: cfg.GetAnnotations(),
	}
	for _, o := range s.store.Containers(podID) {
		if o.NameKey() == (&store.Container{PodID: podID, Metadata: c.Metadata}).NameKey() {
			return "", fmt.Errorf("CreateContainer: name %q (attempt %d) is taken in pod sandbox %s by %s: %w",
				md.Name, md.Attempt, podID, o.ID, ErrAlreadyExists)
		}
	}
	c.ID = newID(func(string) bool { return false })
	c.RootfsKey = c.ID
	dir := s.containerDir(c.ID)
	c.RootfsDir = filepath.Join(dir, "rootfs")
	bctx := bg(ctx)

	// 1. The container directory.
	if err := os.MkdirAll(c.RootfsDir, 0o700); err != nil {
		return "", err
	}
	defer func() {
		if retErr != nil {
			if err := removeContainerDir(dir); err != nil {
				s.log.Error("rollback: removing the container directory", "container", c.ID, "err", err)
			}
		}
	}()
	if err := s.fault("container:dir"); err != nil {
		return "", err
	}

	// 2. The rootfs snapshot, mounted.
	rootfs, cleanup, err := s.images.PrepareRootfs(ctx, img.ID, c.RootfsKey,
		images.Labels(map[string]string{"runsc-cri/pod": podID, "runsc-cri/container": c.ID}))
	if err != nil {
		return "", fmt.Errorf("CreateContainer %q: %w", md.Name, err)
	}
	defer func() {
		if retErr != nil {
			if err := cleanup(bctx); err != nil {
				s.log.Error("rollback: removing a rootfs", "container", c.ID, "err", err)
			}
		}
	}()
	if err := s.fault("container:snapshot"); err != nil {
		return "", err
	}
	if err := rootfs.Mount(c.RootfsDir); err != nil {
		return "", fmt.Errorf("mounting the rootfs: %w", err)
	}
	c.HostMounts = []string{c.RootfsDir}
	defer func() {
		if retErr != nil {
			if err := sandbox.Unmount(c.HostMounts); err != nil {
				s.log.Error("rollback: unmounting", "container", c.ID, "err", err)
			}
		}
	}()
	if err := s.fault("container:mount"); err != nil {
		return "", err
	}

	// 3. Volumes, host paths and the pod's /etc files inside it.
	defer func() {
		if retErr != nil {
			// Their mounts go first (the unmount deferred above
			// then skips what is no longer mounted).
			if err := sandbox.Unmount(c.HostMounts); err != nil {
				s.log.Error("rollback: unmounting", "container", c.ID, "err", err)
			}
			if err := s.removeImageVolumes(bctx, &c); err != nil {
				s.log.Error("rollback: removing image volumes", "container", c.ID, "err", err)
			}
		}
	}()
	vols, err := s.mountVolumes(ctx, &c, &pod, cfg)
	if err != nil {
		return "", fmt.Errorf("CreateContainer %q: %w", md.Name, err)
	}
	if err := s.fault("container:volumes"); err != nil {
		return "", err
	}

	// 4. The process.
	podCfg := podConfig(&pod)
	c.Process, err = resolveProcess(&img.Config.Config, cfg, podCfg.GetHostname(), c.RootfsDir)
	if err != nil {
		return "", fmt.Errorf("CreateContainer %q: %w", md.Name, err)
	}
	if c.Process.Caps, err = containerCaps(sc, c.Process.UID); err != nil {
		return "", fmt.Errorf("CreateContainer %q: %w", md.Name, err)
	}
	c.Process.NoNewPrivs = sc.GetNoNewPrivs()
	if c.Process.Seccomp, err = containerSeccomp(sc, c.Process.Caps.Bounding); err != nil {
		return "", fmt.Errorf("CreateContainer %q: %w", md.Name, err)
	}
	if sc.GetReadonlyRootfs() {
		if err := sandbox.RemountReadOnly(c.RootfsDir); err != nil {
			return "", err
		}
	}

	// 5. The log file.
	var logFile *os.File
	if cfg.GetLogPath() != "" {
		if podCfg.GetLogDirectory() == "" {
			return "", fmt.Errorf("CreateContainer %q: log_path %q without the pod's log_directory: %w", md.Name, cfg.GetLogPath(), ErrInvalidArgument)
		}
		c.LogPath = filepath.Join(podCfg.GetLogDirectory(), cfg.GetLogPath())
		if err := os.MkdirAll(filepath.Dir(c.LogPath), 0o755); err != nil {
			return "", fmt.Errorf("log directory: %w", err)
		}
		_, statErr := os.Stat(c.LogPath)
		logFile, err = os.OpenFile(c.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return "", fmt.Errorf("log file: %w", err)
		}
		defer logFile.Close()
		if errors.Is(statErr, os.ErrNotExist) {
			defer func() {
				if retErr != nil {
					os.Remove(c.LogPath)
				}
			}()
		}
	}
	if err := s.fault("container:log"); err != nil {
		return "", err
	}

	// 6. The gofer.
	g, err := s.runner.StartGofer(c.RootfsDir, filepath.Join(dir, "gofer.log"), vols...)
	if err != nil {
		return "", err
	}
	defer g.Close()
	c.GoferPID = g.PID
	defer func() {
		if retErr != nil {
			sandbox.KillGofer(g.PID, c.RootfsDir)
		}
	}()
	// The gofer serves the pod: it joins the pod's host cgroup.
	if err := s.podCgroupAdd(c.PodID, g.PID); err != nil {
		return "", fmt.Errorf("CreateContainer %q: gofer into the pod's cgroup: %w", md.Name, err)
	}
	if err := s.fault("container:gofer"); err != nil {
		return "", err
	}

	// 7. The container in the sentry.
	req := control.CreateContainerRequest{
		ID:          c.ID,
		RootGoferFD: 0,
		Process:     controlProcess(&c.Process),
		LogFD:       -1,
		Hostname:    podCfg.GetHostname(),
	}
	req.MaskedPaths, req.ReadonlyPaths = securityPaths(sc)
	req.MemoryLimit = memoryLimit(cfg.GetLinux().GetResources())
	attachProcess(&req.Process, cfg)
	fds := []int{int(g.Conn.Fd())}
	if logFile != nil {
		req.LogFD = 1
		fds = append(fds, int(logFile.Fd()))
	}
	for i, v := range vols {
		// Each volume on its own connection, which the sentry mounts
		// in its shared (revalidating) mode (a file volume's serves
		// its directory, of which the sentry binds the file).
		req.Mounts = append(req.Mounts, control.Mount{Destination: v.Destination(), Source: v.File, Type: "bind", GoferFD: len(fds), ReadOnly: v.ReadOnly})
		fds = append(fds, int(g.Volumes[i].Fd()))
	}
	if err := control.Call(pod.ControlSocket, control.MethodCreateContainer, req, fds, nil, 30*time.Second); err != nil {
		return "", fmt.Errorf("CreateContainer %q: %w", md.Name, sentryErr(err))
	}
	defer func() {
		if retErr != nil {
			control.Call(pod.ControlSocket, control.MethodRemoveContainer, control.ContainerRequest{ID: c.ID}, nil, nil, 5*time.Second)
		}
	}()
	if err := s.fault("container:sentry"); err != nil {
		return "", err
	}

	// 8. The record.
	if err := s.store.AddContainer(c); err != nil {
		return "", fmt.Errorf("CreateContainer %q: %w", md.Name, err)
	}
	s.emit(runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT, &c)
	return c.ID, nil
}

// mountVolumes bind-mounts the config's mounts and the pod's /etc files
// (unless the config mounts something on them) inside c's rootfs, parents
// before children (a stable sort by depth, as containerd orders them), and
// makes the mount points the sentry needs (/proc, /sys, /dev). The binds
// are made in the daemon's mount namespace and detached from it once the
// gofer has its copy (Runner.StartGofer); the rootfs mount is made private
// first, so that neither the binds nor their removal propagate anywhere.
// The binds are not recorded in c.HostMounts: until the gofer starts,
// unmounting the rootfs (MNT_DETACH) takes them with it, and a path inside
// the rootfs must never be resolved on the host again once the container
// can change the tree (a directory on the way replaced by a symlink would
// send an unmount elsewhere). Propagation: PROPAGATION_PRIVATE binds are
// rprivate, PROPAGATION_HOST_TO_CONTAINER ones rslave (see cri/sandbox);
// PROPAGATION_BIDIRECTIONAL is refused (the container's mounts are the
// sentry's, they cannot reach the host).
//
// It returns the host-path volumes: the gofer serves each on a connection
// of its own and the sentry mounts it in its shared mode, so host-side
// changes reach the container at its next lookup (see cri/sandbox). Image
// volumes, the pod's /etc files and a file bound in the root directory
// itself stay in the rootfs's connection.
func (s *Server) mountVolumes(ctx context.Context, c *store.Container, pod *store.Pod, cfg *runtimeapi.ContainerConfig) ([]sandbox.Volume, error) {
	if err := sandbox.MakePrivate(c.RootfsDir); err != nil {
		return nil, err
	}
	mounts := cfg.GetMounts()
	order := make([]int, len(mounts))
	for i, m := range mounts {
		if m.GetContainerPath() == "" || !filepath.IsAbs(m.GetContainerPath()) {
			return nil, fmt.Errorf("mount %q: container_path must be absolute: %w", m.GetContainerPath(), ErrInvalidArgument)
		}
		order[i] = i
	}
	depth := func(i int) int { return strings.Count(filepath.Clean(mounts[i].GetContainerPath()), "/") }
	sort.SliceStable(order, func(a, b int) bool { return depth(order[a]) < depth(order[b]) })
	var vols []sandbox.Volume
	taken := map[string]bool{}
	for _, i := range order {
		m := mounts[i]
		if m.GetImage() != nil {
			if err := s.mountImageVolume(ctx, c, i, m); err != nil {
				return nil, err
			}
			taken[filepath.Clean(m.GetContainerPath())] = true
			continue
		}
		if m.GetHostPath() == "" {
			return nil, fmt.Errorf("mount %q: host_path is required: %w", m.GetContainerPath(), ErrInvalidArgument)
		}
		opts := sandbox.BindOptions{ReadOnly: m.GetReadonly()}
		switch m.GetPropagation() {
		case runtimeapi.MountPropagation_PROPAGATION_PRIVATE:
		case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
			opts.HostToContainer = true
		default:
			return nil, fmt.Errorf("mount %q: propagation %s is not supported (the container's mounts are the sandbox's own, they cannot reach the host): %w",
				m.GetContainerPath(), m.GetPropagation(), ErrUnimplemented)
		}
		if m.GetRecursiveReadOnly() {
			if !m.GetReadonly() {
				return nil, fmt.Errorf("mount %q: recursive_read_only needs readonly: %w", m.GetContainerPath(), ErrInvalidArgument)
			}
			if opts.HostToContainer {
				return nil, fmt.Errorf("mount %q: recursive_read_only needs private propagation: %w", m.GetContainerPath(), ErrInvalidArgument)
			}
			opts.RecursiveReadOnly = true
		}
		v, err := sandbox.BindVolume(c.RootfsDir, m.GetContainerPath(), m.GetHostPath(), opts)
		if err != nil {
			return nil, err
		}
		if v != nil {
			vols = append(vols, *v)
		}
		taken[filepath.Clean(m.GetContainerPath())] = true
	}
	for _, name := range sandbox.EtcFiles {
		dest := "/etc/" + name
		if taken[dest] {
			continue
		}
		if _, err := sandbox.BindInRoot(c.RootfsDir, dest, filepath.Join(pod.Dir, name), false); err != nil {
			return nil, err
		}
	}
	// Mount points of the sentry's own file systems, made now in case the
	// rootfs becomes read-only.
	for _, d := range []string{"proc", "sys", "dev"} {
		if err := os.Mkdir(filepath.Join(c.RootfsDir, d), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
	}
	return vols, nil
}

// controlProcess is the control form of p, with no stdio of its own
// (stdout and stderr go to the log).
func controlProcess(p *store.Process) control.Process {
	cp := control.Process{
		Args: p.Args, Env: p.Env, Cwd: p.Cwd,
		UID: p.UID, GID: p.GID, Groups: p.Groups,
		Stdin: -1, Stdout: -1, Stderr: -1,
		NoNewPrivileges: p.NoNewPrivs,
		Seccomp:         p.Seccomp,
	}
	if p.Caps != nil {
		cp.Capabilities = &control.Capabilities{
			Bounding: p.Caps.Bounding, Effective: p.Caps.Effective, Permitted: p.Caps.Permitted,
			Inheritable: p.Caps.Inheritable, Ambient: p.Caps.Ambient,
		}
	}
	return cp
}

// sentryErr maps a control error's errno to a sentinel.
func sentryErr(err error) error {
	var ce *control.Error
	if !errors.As(err, &ce) {
		return err
	}
	switch ce.Errno {
	case 2: // ENOENT
		return fmt.Errorf("%w (%w)", err, ErrNotFound)
	case 17: // EEXIST
		return fmt.Errorf("%w (%w)", err, ErrAlreadyExists)
	case 22: // EINVAL
		return fmt.Errorf("%w (%w)", err, ErrInvalidArgument)
	}
	if strings.Contains(ce.Msg, "not implemented") {
		return fmt.Errorf("%w (%w)", err, ErrUnimplemented)
	}
	return err
}
