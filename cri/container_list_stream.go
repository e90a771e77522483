package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// streamChunk is how many items one Stream* message carries.
const streamChunk = 100

// chunks calls send with consecutive slices of at most streamChunk items
// (once, with none, for an empty list).
func chunks[T any](items []T, send func([]T) error) error {
	for i := 0; i == 0 || i < len(items); i += streamChunk {
		if err := send(items[i:min(i+streamChunk, len(items))]); err != nil {
			return err
		}
	}
	return nil
}

// StreamContainers implements CRI StreamContainers: ListContainers's
// result in messages of up to 100 containers.
func (s *Server) StreamContainers(r *runtimeapi.StreamContainersRequest, ss grpc.ServerStreamingServer[runtimeapi.StreamContainersResponse]) error {
	return chunks(s.listContainers(r.GetFilter()), func(c []*runtimeapi.Container) error {
		return ss.Send(&runtimeapi.StreamContainersResponse{Containers: c})
	})
}
