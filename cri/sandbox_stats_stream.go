package cri

import (
	"fmt"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamPodSandboxStats implements CRI StreamPodSandboxStats: it streams pods' resource usage.
// Not built yet: it answers Unimplemented.
func (s *Server) StreamPodSandboxStats(r *runtimeapi.StreamPodSandboxStatsRequest, ss grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxStatsResponse]) error {
	return s.streamPodSandboxStats(r, ss)
}

func (s *Server) streamPodSandboxStats(*runtimeapi.StreamPodSandboxStatsRequest, grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxStatsResponse]) error {
	return fmt.Errorf("StreamPodSandboxStats: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
