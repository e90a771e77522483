package boot

import (
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// Container resources (control/resources.go): the memory limit is the
// kernel container's (kernel/container_memory.go), set at CreateContainer
// and changed by UpdateResources at any time, before the start too.

// applyResources sets the resources a CreateContainer request asks for.
func (c *container) applyResources(req *control.CreateContainerRequest) {
	c.kc.SetMemoryLimit(req.MemoryLimit)
}

// updateResources implements MethodUpdateResources.
func (p *Pod) updateResources(r *control.UpdateResourcesRequest) error {
	c, err := p.lookup(r.ID)
	if err != nil {
		return err
	}
	c.kc.SetMemoryLimit(r.MemoryLimit)
	return nil
}
