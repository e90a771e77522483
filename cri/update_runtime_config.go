package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// UpdateRuntimeConfig implements CRI UpdateRuntimeConfig: the kubelet
// hands over the node's pod CIDR, kept for the pod network.
func (s *Server) UpdateRuntimeConfig(ctx context.Context, r *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	return s.updateRuntimeConfig(ctx, r)
}

func (s *Server) updateRuntimeConfig(_ context.Context, r *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	cidr := r.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()
	if cidr != "" {
		s.mu.Lock()
		changed := s.podCIDR != cidr
		s.podCIDR = cidr
		s.mu.Unlock()
		if changed {
			s.log.Info("pod CIDR set", "cidr", cidr)
		}
	}
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}

// PodCIDR returns the pod CIDR from the last UpdateRuntimeConfig.
func (s *Server) PodCIDR() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.podCIDR
}
