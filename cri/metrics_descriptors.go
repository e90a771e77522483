package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The metrics ListPodSandboxMetrics reports, cAdvisor's names, from the
// sentry's own accounting and the rootfs snapshots. No label keys: a
// metric belongs to the pod or container it is listed under.
var metricDescriptors = []*runtimeapi.MetricDescriptor{
	{Name: "container_cpu_usage_seconds_total", Help: "Cumulative CPU time consumed, in nanoseconds (the sentry's accounting)."},
	{Name: "container_memory_working_set_bytes", Help: "Resident application memory in the sentry's memory file."},
	{Name: "container_processes", Help: "Number of live processes."},
	{Name: "container_fs_usage_bytes", Help: "Bytes used by the container's writable layer."},
}

// ListMetricDescriptors implements CRI ListMetricDescriptors: the
// metrics ListPodSandboxMetrics reports.
func (s *Server) ListMetricDescriptors(ctx context.Context, r *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	return &runtimeapi.ListMetricDescriptorsResponse{Descriptors: metricDescriptors}, nil
}
