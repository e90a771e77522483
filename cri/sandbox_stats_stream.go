package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamPodSandboxStats implements CRI StreamPodSandboxStats:
// ListPodSandboxStats's result in messages of up to 100 entries.
func (s *Server) StreamPodSandboxStats(r *runtimeapi.StreamPodSandboxStatsRequest, ss grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxStatsResponse]) error {
	return chunks(s.listPodSandboxStats(ss.Context(), r.GetFilter()), func(p []*runtimeapi.PodSandboxStats) error {
		return ss.Send(&runtimeapi.StreamPodSandboxStatsResponse{PodSandboxStats: p})
	})
}
