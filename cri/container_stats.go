package cri

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// ContainerStats implements CRI ContainerStats: CPU and memory from the
// sentry's own accounting (control Stats), writable layer usage from the
// rootfs snapshot. An exited container has no CPU and memory figures.
func (s *Server) ContainerStats(ctx context.Context, r *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	id, err := s.store.ResolveContainer(r.GetContainerId())
	if err != nil {
		return nil, err
	}
	c, err := s.store.Container(id)
	if err != nil {
		return nil, err
	}
	st, err := s.containerStats(ctx, &c)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatsResponse{Stats: st}, nil
}

func (s *Server) containerStats(ctx context.Context, c *store.Container) (*runtimeapi.ContainerStats, error) {
	now := time.Now().UnixNano()
	st := &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{
			Id: c.ID, Metadata: containerMetadata(c), Labels: c.Labels, Annotations: c.Annotations,
		},
	}
	if u, err := s.images.RootfsUsage(ctx, c.RootfsKey); err == nil {
		st.WritableLayer = &runtimeapi.FilesystemUsage{
			Timestamp:  now,
			FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: filepath.Join(s.cfg.Root, "images")},
			UsedBytes:  &runtimeapi.UInt64Value{Value: uint64(u.Size)},
			InodesUsed: &runtimeapi.UInt64Value{Value: uint64(u.Inodes)},
		}
	}
	if c.State != store.ContainerRunning {
		return st, nil
	}
	p, err := s.store.Pod(c.PodID)
	if err != nil {
		return nil, err
	}
	var sr control.StatsResult
	if err := control.Call(p.ControlSocket, control.MethodStats, control.StatsRequest{ID: c.ID}, nil, &sr, 5*time.Second); err != nil {
		return nil, fmt.Errorf("stats of container %s: %w", c.ID, sentryErr(err))
	}
	cpu, mem := cpuMemory(&sr)
	st.Cpu, st.Memory = cpu, mem
	return st, nil
}

// cpuMemory converts the sentry's figures.
func cpuMemory(sr *control.StatsResult) (*runtimeapi.CpuUsage, *runtimeapi.MemoryUsage) {
	ts := sr.Timestamp
	if ts == 0 {
		ts = time.Now().UnixNano()
	}
	cpu := &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: sr.CPUNanos}}
	mem := &runtimeapi.MemoryUsage{
		Timestamp:       ts,
		WorkingSetBytes: &runtimeapi.UInt64Value{Value: sr.MemoryBytes},
		RssBytes:        &runtimeapi.UInt64Value{Value: sr.MemoryBytes},
		UsageBytes:      &runtimeapi.UInt64Value{Value: sr.MemoryBytes},
		PageFaults:      &runtimeapi.UInt64Value{Value: sr.PageFaults},
		// MajorPageFaults stays unset: the sentry does not tell a fault
		// that waited for the gofer apart.
	}
	if sr.MemoryLimit > sr.MemoryBytes {
		mem.AvailableBytes = &runtimeapi.UInt64Value{Value: sr.MemoryLimit - sr.MemoryBytes}
	}
	return cpu, mem
}
