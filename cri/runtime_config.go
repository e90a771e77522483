package cri

import (
	"context"
	"os"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RuntimeConfig implements CRI RuntimeConfig: the cgroup driver the
// kubelet must use.
func (s *Server) RuntimeConfig(ctx context.Context, r *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	return s.runtimeConfig(ctx, r)
}

func (s *Server) runtimeConfig(context.Context, *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	return &runtimeapi.RuntimeConfigResponse{
		Linux: &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: cgroupDriver()},
	}, nil
}

// cgroupDriver is systemd when systemd is the init system (as the kubelet
// and systemd expect on such nodes), cgroupfs otherwise.
func cgroupDriver() runtimeapi.CgroupDriver {
	if fi, err := os.Stat("/run/systemd/system"); err == nil && fi.IsDir() {
		return runtimeapi.CgroupDriver_SYSTEMD
	}
	return runtimeapi.CgroupDriver_CGROUPFS
}
