package cri

import (
	"fmt"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamContainers implements CRI StreamContainers: it streams the container list.
// Not built yet: it answers Unimplemented.
func (s *Server) StreamContainers(r *runtimeapi.StreamContainersRequest, ss grpc.ServerStreamingServer[runtimeapi.StreamContainersResponse]) error {
	return s.streamContainers(r, ss)
}

func (s *Server) streamContainers(*runtimeapi.StreamContainersRequest, grpc.ServerStreamingServer[runtimeapi.StreamContainersResponse]) error {
	return fmt.Errorf("StreamContainers: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
