package cri

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// UpdateContainerResources implements CRI UpdateContainerResources: the
// new resources are recorded (and shown by ContainerStatus), and the memory
// limit is applied in the sentry (control UpdateResources), which enforces
// it like a memory cgroup (see sentry/control/resources.go: lowering it
// below the usage reclaims nothing, it refuses new allocations). A memory
// limit of 0 keeps the current one, as containerd does. The other figures
// (CPU shares, quota, hugepages...) are recorded only. An exited container
// cannot be updated (FailedPrecondition).
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
	c, err := s.store.Container(id)
	if err != nil {
		return err
	}
	if c.State == store.ContainerExited {
		return fmt.Errorf("UpdateContainerResources: container %s has exited: %w", id, ErrFailedPrecondition)
	}
	res := r.GetLinux()
	if res == nil {
		return nil
	}
	res = proto.Clone(res).(*runtimeapi.LinuxContainerResources)
	if res.GetMemoryLimitInBytes() == 0 {
		res.MemoryLimitInBytes = s.containerResources(&c).GetMemoryLimitInBytes()
	}
	raw, err := proto.Marshal(res)
	if err != nil {
		return err
	}
	// The sentry first: the record changes only once the limit holds.
	p, err := s.store.Pod(c.PodID)
	if err != nil {
		return err
	}
	req := control.UpdateResourcesRequest{ID: id, MemoryLimit: memoryLimit(res)}
	if err := control.Call(p.ControlSocket, control.MethodUpdateResources, req, nil, nil, 10*time.Second); err != nil {
		return fmt.Errorf("UpdateContainerResources %s: %w", id, sentryErr(err))
	}
	_, err = s.store.UpdateContainer(id, func(c *store.Container) error {
		if c.State == store.ContainerExited {
			return fmt.Errorf("UpdateContainerResources: container %s has exited: %w", id, ErrFailedPrecondition)
		}
		c.Resources = raw
		return nil
	})
	return err
}

// memoryLimit is the sentry's memory limit for res (0: none).
func memoryLimit(res *runtimeapi.LinuxContainerResources) uint64 {
	if l := res.GetMemoryLimitInBytes(); l > 0 {
		return uint64(l)
	}
	return 0
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
