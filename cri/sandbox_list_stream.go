package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamPodSandboxes implements CRI StreamPodSandboxes: ListPodSandbox's
// result in messages of up to 100 pods.
func (s *Server) StreamPodSandboxes(r *runtimeapi.StreamPodSandboxesRequest, ss grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxesResponse]) error {
	return chunks(s.listPodSandbox(r.GetFilter()), func(p []*runtimeapi.PodSandbox) error {
		return ss.Send(&runtimeapi.StreamPodSandboxesResponse{PodSandboxes: p})
	})
}
