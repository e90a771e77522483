package cri

import (
	"fmt"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamPodSandboxes implements CRI StreamPodSandboxes: it streams the pod sandbox list.
// Not built yet: it answers Unimplemented.
func (s *Server) StreamPodSandboxes(r *runtimeapi.StreamPodSandboxesRequest, ss grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxesResponse]) error {
	return s.streamPodSandboxes(r, ss)
}

func (s *Server) streamPodSandboxes(*runtimeapi.StreamPodSandboxesRequest, grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxesResponse]) error {
	return fmt.Errorf("StreamPodSandboxes: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
