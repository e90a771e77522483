package cri

import (
	"fmt"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamContainerStats implements CRI StreamContainerStats: it streams containers' resource usage.
// Not built yet: it answers Unimplemented.
func (s *Server) StreamContainerStats(r *runtimeapi.StreamContainerStatsRequest, ss grpc.ServerStreamingServer[runtimeapi.StreamContainerStatsResponse]) error {
	return s.streamContainerStats(r, ss)
}

func (s *Server) streamContainerStats(*runtimeapi.StreamContainerStatsRequest, grpc.ServerStreamingServer[runtimeapi.StreamContainerStatsResponse]) error {
	return fmt.Errorf("StreamContainerStats: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
