package cri

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/sandbox"
	"github.com/runsc-cri/runsc-cri/cri/store"
)

// RunPodSandbox implements CRI RunPodSandbox: it creates and starts a pod
// sandbox, its sentry, and returns the pod's ID. A name (name, namespace,
// uid, attempt) already taken is AlreadyExists. A failure at any step
// undoes every earlier one (record, directory, files, sentry).
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

	// 3. The sentry.
	spec := sandbox.Spec{Platform: platform, Hostname: hostname, Sysctls: cfg.GetLinux().GetSysctls()}
	if res := cfg.GetLinux().GetResources(); res != nil && res.MemoryLimitInBytes > 0 {
		spec.MemoryLimit = uint64(res.MemoryLimitInBytes)
	}
	sn, err := s.runner.StartSentry(p.Dir, p.ControlSocket, spec)
	if err != nil {
		return "", fmt.Errorf("RunPodSandbox %q: %w", md.Name, err)
	}
	defer func() {
		if retErr != nil {
			sandbox.Shutdown(sn.Socket, sn.PID, 2*time.Second)
		}
	}()
	if err := s.fault("pod:sentry"); err != nil {
		return "", err
	}

	// 4. Ready.
	if _, err := s.store.UpdatePod(id, func(p *store.Pod) error {
		p.State = store.PodReady
		p.SentryPID = sn.PID
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
