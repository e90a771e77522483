package cri

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
)

// UpdateContainerResources implements CRI UpdateContainerResources: the
// new resources are recorded (and shown by ContainerStatus); there are no
// cgroups to apply them to yet, so they are not enforced. An exited
// container cannot be updated (FailedPrecondition).
func (s *Server) UpdateContainerResources(ctx context.Context, r *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	if err := s.updateContainerResources(ctx, r); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

func (s *Server) updateContainerResources(_ context.Context, r *runtimeapi.UpdateContainerResourcesRequest) error {
	id, err := s.store.ResolveContainer(r.GetContainerId())
	if err != nil {
		return err
	}
	unlock := s.ctrLocks.lock(id)
	defer unlock()
	var raw []byte
	if r.GetLinux() != nil {
		if raw, err = proto.Marshal(r.GetLinux()); err != nil {
			return err
		}
	}
	_, err = s.store.UpdateContainer(id, func(c *store.Container) error {
		if c.State == store.ContainerExited {
			return fmt.Errorf("UpdateContainerResources: container %s has exited: %w", id, ErrFailedPrecondition)
		}
		if raw != nil {
			c.Resources = raw
		}
		return nil
	})
	return err
}

// containerResources are c's current Linux resources: the last update's,
// else the config's.
func (s *Server) containerResources(c *store.Container) *runtimeapi.LinuxContainerResources {
	if c.Resources != nil {
		res := &runtimeapi.LinuxContainerResources{}
		if proto.Unmarshal(c.Resources, res) == nil {
			return res
		}
	}
	return containerConfig(c).GetLinux().GetResources()
}
