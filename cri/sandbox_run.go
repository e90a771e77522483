package cri

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/network"
	"github.com/runsc-cri/runsc-cri/cri/sandbox"
	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// RunPodSandbox implements CRI RunPodSandbox: it creates and starts a pod
// sandbox, its sentry, and returns the pod's ID. A name (name, namespace,
// uid, attempt) already taken is AlreadyExists. A failure at any step
// undoes every earlier one (record, directory, files, network, sentry).
// The pod's network (cri/network: a network namespace, CNI ADD, eth0
// handed to the sentry) is set up while the sentry starts; without a CNI
// configuration the pod has loopback only.
func (s *Server) RunPodSandbox(ctx context.Context, r *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	id, err := s.runPodSandbox(ctx, r)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

func (s *Server) runPodSandbox(ctx context.Context, r *runtimeapi.RunPodSandboxRequest) (_ string, retErr error) {
	cfg := r.GetConfig()
	md := cfg.GetMetadata()
	if md == nil || md.Name == "" {
		return "", fmt.Errorf("RunPodSandbox: config.metadata.name is required: %w", ErrInvalidArgument)
	}
	platform, err := s.handlerPlatform(r.GetRuntimeHandler())
	if err != nil {
		return "", err
	}
	if err := checkPodNamespaces(cfg); err != nil {
		return "", fmt.Errorf("RunPodSandbox %q: %w", md.Name, err)
	}
	raw, err := proto.Marshal(cfg)
	if err != nil {
		return "", err
	}
	pods := s.store.Pods()
	id := newID(func(prefix string) bool {
		for _, p := range pods {
			if strings.HasPrefix(p.ID, prefix) {
				return true
			}
		}
		return false
	})
	unlock := s.podLocks.lock(id)
	defer unlock()

	hostname := cfg.GetHostname()
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	p := store.Pod{
		ID:             id,
		Metadata:       store.Metadata{Name: md.Name, UID: md.Uid, Namespace: md.Namespace, Attempt: md.Attempt},
		Config:         raw,
		RuntimeHandler: r.GetRuntimeHandler(),
		Platform:       platform,
		State:          store.PodInit,
		CreatedAt:      time.Now().UnixNano(),
		Dir:            s.podDir(id),
		ControlSocket:  s.controlSocket(id),
		Labels:         cfg.GetLabels(),
		Annotations:    cfg.GetAnnotations(),
	}
	// 1. The record, in state Init: it reserves the name.
	if err := s.store.AddPod(p); err != nil {
		return "", fmt.Errorf("RunPodSandbox %q: %w", md.Name, err)
	}
	defer func() {
		if retErr != nil {
			if err := s.store.DeletePod(id); err != nil {
				s.log.Error("rollback: forgetting the pod", "pod", id, "err", err)
			}
		}
	}()
	if err := s.fault("pod:record"); err != nil {
		return "", err
	}

	// 2. The pod directory with its /etc files.
	if err := os.MkdirAll(p.Dir, 0o711); err != nil {
		return "", fmt.Errorf("pod directory: %w", err)
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(p.Dir)
		}
	}()
	if err := s.fault("pod:dir"); err != nil {
		return "", err
	}
	if err := sandbox.WriteEtcFiles(p.Dir, hostname, cfg.GetDnsConfig()); err != nil {
		return "", fmt.Errorf("pod /etc files: %w", err)
	}
	if err := s.fault("pod:files"); err != nil {
		return "", err
	}

	// 3. The pod's network namespace (cri/network), if there is a CNI
	// configuration; then the sentry, started inside that namespace (or
	// a new empty one: it never holds anything of the host's network),
	// and meanwhile CNI ADD, so that the pod start waits for the longer
	// of the two only.
	att, err := s.net.Prepare(podNetwork(id, cfg))
	if err != nil {
		return "", fmt.Errorf("RunPodSandbox %q: pod network: %w", md.Name, err)
	}
	defer func() {
		if retErr != nil {
			rctx, cancel := context.WithTimeout(bg(ctx), time.Minute)
			defer cancel()
			if err := s.net.Remove(rctx, id); err != nil {
				s.log.Error("rollback: pod network", "pod", id, "err", err)
			}
		}
	}()
	netDone := make(chan error, 1)
	if att != nil {
		// The call's context: a kubelet giving up ends the plugins
		// (libcni kills them), and the rollback runs DEL.
		go func() { netDone <- s.net.Add(ctx, att) }()
	} else {
		netDone <- nil
	}
	spec := sandbox.Spec{Platform: platform, Hostname: hostname, Sysctls: cfg.GetLinux().GetSysctls(),
		InfraInit: cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetPid() == runtimeapi.NamespaceMode_POD}
	if res := cfg.GetLinux().GetResources(); res != nil && res.MemoryLimitInBytes > 0 {
		spec.MemoryLimit = uint64(res.MemoryLimitInBytes)
	}
	// The pod's host cgroup (sandbox_cgroups.go), removed on rollback after the
	// sentry is gone (defers run last-first).
	cg, err := s.createPodCgroup(id, cfg)
	if err != nil {
		return "", fmt.Errorf("RunPodSandbox %q: pod cgroup: %w", md.Name, err)
	}
	if cg != nil {
		defer func() {
			if retErr != nil {
				s.removePodCgroup(id, cg.Path)
			}
		}()
	}
	if err := s.fault("pod:cgroup"); err != nil {
		return "", err
	}
	var sn *sandbox.Sentry
	startSentry := func() (err error) {
		sn, err = s.runner.StartSentry(p.Dir, p.ControlSocket, spec)
		return err
	}
	if att != nil {
		err = s.net.Do(att, startSentry)
	} else {
		err = network.InNewNetNS(startSentry) // loopback only
	}
	netErr := <-netDone
	if err != nil {
		return "", fmt.Errorf("RunPodSandbox %q: %w", md.Name, err)
	}
	defer func() {
		if retErr != nil {
			sandbox.Shutdown(sn.Socket, sn.PID, 2*time.Second)
		}
	}()
	if cg != nil {
		// Before the pod is Ready: no container has run yet.
		if err := cg.AddTree(sn.PID); err != nil {
			return "", fmt.Errorf("RunPodSandbox %q: pod cgroup: %w", md.Name, err)
		}
	}
	if err := s.fault("pod:sentry"); err != nil {
		return "", err
	}
	if netErr != nil {
		return "", fmt.Errorf("RunPodSandbox %q: pod network: %w", md.Name, netErr)
	}
	if err := s.fault("pod:network"); err != nil {
		return "", err
	}
	if att != nil {
		if err := s.configurePodNetwork(att, sn.Socket); err != nil {
			return "", fmt.Errorf("RunPodSandbox %q: %w", md.Name, err)
		}
	}

	// 4. Ready.
	if _, err := s.store.UpdatePod(id, func(p *store.Pod) error {
		p.State = store.PodReady
		p.SentryPID = sn.PID
		if cg != nil {
			p.Cgroup = cg.Path
		}
		return nil
	}); err != nil {
		return "", err
	}
	if err := s.fault("pod:ready"); err != nil {
		return "", err
	}
	s.watchPod(id, sn.PID, sn.Socket)
	return id, nil
}

// configurePodNetwork hands the pod's eth0 over to its sentry.
func (s *Server) configurePodNetwork(att *network.Attachment, socket string) error {
	f, req, err := s.net.Handoff(att)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := control.Call(socket, control.MethodConfigureNetwork, req, []int{int(f.Fd())}, nil, 10*time.Second); err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	return nil
}

// podNetwork is what CNI is told about a pod (cri/network).
func podNetwork(id string, cfg *runtimeapi.PodSandboxConfig) network.Pod {
	md := cfg.GetMetadata()
	pod := network.Pod{ID: id, Name: md.GetName(), Namespace: md.GetNamespace(), UID: md.GetUid(), Annotations: cfg.GetAnnotations()}
	for _, pm := range cfg.GetPortMappings() {
		if pm.GetHostPort() <= 0 {
			continue // the kubelet's rule: no host port, no mapping
		}
		pod.PortMappings = append(pod.PortMappings, network.PortMapping{
			HostPort:      pm.GetHostPort(),
			ContainerPort: pm.GetContainerPort(),
			Protocol:      strings.ToLower(pm.GetProtocol().String()),
			HostIP:        pm.GetHostIp(),
		})
	}
	if d := cfg.GetDnsConfig(); d != nil {
		pod.DNS = &network.DNS{Servers: d.GetServers(), Searches: d.GetSearches(), Options: d.GetOptions()}
	}
	return pod
}

// checkPodNamespaces refuses the host's namespaces: a pod's processes,
// IPC objects and network stack are those of its own sentry, so sharing
// the node's cannot be honoured and is not faked.
func checkPodNamespaces(cfg *runtimeapi.PodSandboxConfig) error {
	ns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	for _, o := range []struct {
		what string
		mode runtimeapi.NamespaceMode
	}{{"network", ns.GetNetwork()}, {"PID", ns.GetPid()}, {"IPC", ns.GetIpc()}} {
		if o.mode == runtimeapi.NamespaceMode_NODE {
			return fmt.Errorf("the host %s namespace is not supported: every pod runs in its own sentry: %w", o.what, ErrUnimplemented)
		}
	}
	return nil
}
