package cri

import (
	"context"
	"encoding/json"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Status implements CRI Status: runtime and network conditions, runtime
// handlers and features; with verbose, the daemon's config as JSON.
func (s *Server) Status(ctx context.Context, r *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	return s.status(ctx, r)
}

func (s *Server) status(_ context.Context, r *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	// NetworkReady as containerd gives it: true once a CNI network
	// configuration loads and its plugins are found. Without one, pods
	// still start, with loopback only (cri/network).
	netReady := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	if err := s.net.Status(); err != nil {
		netReady.Status, netReady.Reason, netReady.Message = false, "NetworkPluginNotReady", "Network plugin returns error: "+err.Error()
	}
	resp := &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
			{Type: runtimeapi.RuntimeReady, Status: true},
			netReady,
		}},
		RuntimeHandlers: s.runtimeHandlers(),
		Features:        &runtimeapi.RuntimeFeatures{},
	}
	if r.GetVerbose() {
		s.mu.Lock()
		info := map[string]any{
			"config":       s.cfg,
			"snapshotter":  s.images.Snapshotter(),
			"podCIDR":      s.podCIDR,
			"cgroupDriver": cgroupDriver().String(),
		}
		s.mu.Unlock()
		b, err := json.Marshal(info)
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}
