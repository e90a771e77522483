package cri

import (
	"fmt"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamPodSandboxMetrics implements CRI StreamPodSandboxMetrics: it streams pod metrics.
// Not built yet: it answers Unimplemented.
func (s *Server) StreamPodSandboxMetrics(r *runtimeapi.StreamPodSandboxMetricsRequest, ss grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxMetricsResponse]) error {
	return s.streamPodSandboxMetrics(r, ss)
}

func (s *Server) streamPodSandboxMetrics(*runtimeapi.StreamPodSandboxMetricsRequest, grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxMetricsResponse]) error {
	return fmt.Errorf("StreamPodSandboxMetrics: pod metrics are not built yet: %w", ErrUnimplemented)
}
