package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// GetContainerEvents implements CRI GetContainerEvents: it streams
// created, started, stopped and deleted events (with the pod's status and
// its containers' statuses) until the client goes away or the daemon
// shuts down. Events before the call are not replayed.
func (s *Server) GetContainerEvents(r *runtimeapi.GetEventsRequest, ss grpc.ServerStreamingServer[runtimeapi.ContainerEventResponse]) error {
	return s.getContainerEvents(r, ss)
}

func (s *Server) getContainerEvents(_ *runtimeapi.GetEventsRequest, ss grpc.ServerStreamingServer[runtimeapi.ContainerEventResponse]) error {
	ch, cancel := s.events.subscribe()
	defer cancel()
	for {
		select {
		case ev := <-ch:
			if err := ss.Send(ev); err != nil {
				return err
			}
		case <-ss.Context().Done():
			return nil
		case <-s.watchCtx.Done():
			return nil
		}
	}
}
