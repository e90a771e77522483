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
	resp := &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
			{Type: runtimeapi.RuntimeReady, Status: true},
			{
				Type:    runtimeapi.NetworkReady,
				Status:  false,
				Reason:  "NetworkPluginNotReady",
				Message: "runsc-cri: pod networking is not built yet",
			},
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
