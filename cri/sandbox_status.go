package cri

import (
	"context"
	"encoding/json"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/network"
	"github.com/runsc-cri/runsc-cri/cri/sandbox"
	"github.com/runsc-cri/runsc-cri/cri/store"
)

// PodSandboxStatus implements CRI PodSandboxStatus: the pod's state, with
// its containers' statuses; with verbose, the pod's record and whether its
// sentry answers, as JSON under "info".
func (s *Server) PodSandboxStatus(ctx context.Context, r *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	return s.podSandboxStatus(ctx, r)
}

func (s *Server) podSandboxStatus(_ context.Context, r *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	id, err := s.store.ResolvePod(r.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	p, err := s.store.Pod(id)
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: s.podStatus(&p), Timestamp: time.Now().UnixNano()}
	for _, c := range s.store.Containers(id) {
		resp.ContainersStatuses = append(resp.ContainersStatuses, s.containerStatus(&c))
	}
	if r.GetVerbose() {
		alive := ""
		if err := sandbox.Alive(p.ControlSocket); err != nil {
			alive = err.Error()
		}
		info := map[string]any{
			"pod":         p,
			"config":      podConfig(&p),
			"sentryPing":  map[bool]string{true: "ok", false: alive}[alive == ""],
			"runtimeSpec": sandbox.Spec{Platform: p.Platform},
			"network":     s.podAttachment(p.ID),
		}
		b, err := json.Marshal(info)
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}

// podStatus is the CRI status of p.
func (s *Server) podStatus(p *store.Pod) *runtimeapi.PodSandboxStatus {
	cfg := podConfig(p)
	return &runtimeapi.PodSandboxStatus{
		Id:        p.ID,
		Metadata:  podMetadata(p),
		State:     podState(p),
		CreatedAt: p.CreatedAt,
		Network:   s.podNetworkStatus(p.ID),
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{
			Options: cfg.GetLinux().GetSecurityContext().GetNamespaceOptions(),
		}},
		Labels:         p.Labels,
		Annotations:    p.Annotations,
		RuntimeHandler: p.RuntimeHandler,
	}
}

// podAttachment is pod id's network record (nil: loopback only).
func (s *Server) podAttachment(id string) *network.Attachment {
	a, err := s.net.Attachment(id)
	if err != nil {
		s.log.Warn("pod network record", "pod", id, "err", err)
	}
	return a
}

// podNetworkStatus gives the pod's IP from its CNI result (the first
// IPv4 address, else the first IPv6) and the others as additional IPs;
// none for a pod with loopback only.
func (s *Server) podNetworkStatus(id string) *runtimeapi.PodSandboxNetworkStatus {
	st := &runtimeapi.PodSandboxNetworkStatus{}
	a := s.podAttachment(id)
	if a == nil || !a.Added {
		return st
	}
	for i, ip := range a.PodIPs() {
		if i == 0 {
			st.Ip = ip
			continue
		}
		st.AdditionalIps = append(st.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
	}
	return st
}
