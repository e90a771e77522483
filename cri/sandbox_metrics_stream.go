package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamPodSandboxMetrics implements CRI StreamPodSandboxMetrics:
// ListPodSandboxMetrics's result in messages of up to 100 pods.
func (s *Server) StreamPodSandboxMetrics(r *runtimeapi.StreamPodSandboxMetricsRequest, ss grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxMetricsResponse]) error {
	return chunks(s.listPodSandboxMetrics(ss.Context()), func(p []*runtimeapi.PodSandboxMetrics) error {
		return ss.Send(&runtimeapi.StreamPodSandboxMetricsResponse{PodSandboxMetrics: p})
	})
}
