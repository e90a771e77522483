package cri

import (
	"fmt"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// GetContainerEvents implements CRI GetContainerEvents: it streams container lifecycle events.
// Not built yet: it answers Unimplemented.
func (s *Server) GetContainerEvents(r *runtimeapi.GetEventsRequest, ss grpc.ServerStreamingServer[runtimeapi.ContainerEventResponse]) error {
	return s.getContainerEvents(r, ss)
}

func (s *Server) getContainerEvents(*runtimeapi.GetEventsRequest, grpc.ServerStreamingServer[runtimeapi.ContainerEventResponse]) error {
	return fmt.Errorf("GetContainerEvents: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
