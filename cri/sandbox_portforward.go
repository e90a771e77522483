package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PortForward implements CRI PortForward: it prepares a streaming port-forward into a pod.
// Not built yet: it answers Unimplemented.
func (s *Server) PortForward(ctx context.Context, r *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	return s.portForward(ctx, r)
}

func (s *Server) portForward(context.Context, *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	return nil, fmt.Errorf("PortForward: the streaming server and pod networking are not built yet: %w", ErrUnimplemented)
}
