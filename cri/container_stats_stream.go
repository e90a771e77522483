package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamContainerStats implements CRI StreamContainerStats:
// ListContainerStats's result in messages of up to 100 entries.
func (s *Server) StreamContainerStats(r *runtimeapi.StreamContainerStatsRequest, ss grpc.ServerStreamingServer[runtimeapi.StreamContainerStatsResponse]) error {
	return chunks(s.listContainerStats(ss.Context(), r.GetFilter()), func(c []*runtimeapi.ContainerStats) error {
		return ss.Send(&runtimeapi.StreamContainerStatsResponse{ContainerStats: c})
	})
}
