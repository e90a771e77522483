package cri

import (
	"context"
	"encoding/json"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
)

// ContainerStatus implements CRI ContainerStatus: state, exit code and
// reason, times, image, mounts, log path, labels and annotations; with
// verbose, the container's record (resolved process, rootfs, gofer) as
// JSON under "info".
func (s *Server) ContainerStatus(ctx context.Context, r *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	return s.containerStatusCall(ctx, r)
}

func (s *Server) containerStatusCall(_ context.Context, r *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	id, err := s.store.ResolveContainer(r.GetContainerId())
	if err != nil {
		return nil, err
	}
	c, err := s.store.Container(id)
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: s.containerStatus(&c)}
	if r.GetVerbose() {
		b, err := json.Marshal(map[string]any{"container": c, "config": containerConfig(&c)})
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}

// reasonOOMKilled is an exited container's reason when one of its processes
// was killed for lack of memory (its limit or the pod's), whatever the exit
// code, as containerd reports it.
const reasonOOMKilled = "OOMKilled"

// containerStatus is the CRI status of c.
func (s *Server) containerStatus(c *store.Container) *runtimeapi.ContainerStatus {
	cfg := containerConfig(c)
	st := &runtimeapi.ContainerStatus{
		Id:          c.ID,
		Metadata:    containerMetadata(c),
		State:       containerState(c),
		CreatedAt:   c.CreatedAt,
		StartedAt:   c.StartedAt,
		FinishedAt:  c.FinishedAt,
		Image:       cfg.GetImage(),
		ImageRef:    c.ImageID,
		ImageId:     c.ImageID,
		Labels:      c.Labels,
		Annotations: c.Annotations,
		Mounts:      cfg.GetMounts(),
		LogPath:     c.LogPath,
		User: &runtimeapi.ContainerUser{Linux: &runtimeapi.LinuxContainerUser{
			Uid: int64(c.Process.UID), Gid: int64(c.Process.GID), SupplementalGroups: groups64(c.Process.Groups),
		}},
	}
	if st.Image == nil {
		st.Image = &runtimeapi.ImageSpec{Image: c.ImageRef}
	}
	if c.State == store.ContainerExited {
		st.ExitCode = c.ExitCode
		st.Reason = c.Reason
		st.Message = c.Message
	}
	if res := s.containerResources(c); res != nil {
		st.Resources = &runtimeapi.ContainerResources{Linux: res}
	}
	return st
}

func groups64(g []uint32) []int64 {
	out := make([]int64, len(g))
	for i, v := range g {
		out[i] = int64(v)
	}
	return out
}
