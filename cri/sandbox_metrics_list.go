package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListPodSandboxMetrics implements CRI ListPodSandboxMetrics: for every
// pod, the metrics of metricDescriptors for the pod as a whole and for
// each of its containers, built from the same figures as the stats calls.
func (s *Server) ListPodSandboxMetrics(ctx context.Context, r *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	return &runtimeapi.ListPodSandboxMetricsResponse{PodMetrics: s.listPodSandboxMetrics(ctx)}, nil
}

func (s *Server) listPodSandboxMetrics(ctx context.Context) []*runtimeapi.PodSandboxMetrics {
	var out []*runtimeapi.PodSandboxMetrics
	for _, st := range s.listPodSandboxStats(ctx, nil) {
		pm := &runtimeapi.PodSandboxMetrics{PodSandboxId: st.GetAttributes().GetId()}
		pm.Metrics = metricsOf(st.GetLinux().GetCpu(), st.GetLinux().GetMemory(), st.GetLinux().GetProcess(), nil)
		for _, cs := range st.GetLinux().GetContainers() {
			pm.ContainerMetrics = append(pm.ContainerMetrics, &runtimeapi.ContainerMetrics{
				ContainerId: cs.GetAttributes().GetId(),
				Metrics:     metricsOf(cs.GetCpu(), cs.GetMemory(), nil, cs.GetWritableLayer()),
			})
		}
		out = append(out, pm)
	}
	return out
}

// metricsOf turns stats into metrics (absent figures are left out).
func metricsOf(cpu *runtimeapi.CpuUsage, mem *runtimeapi.MemoryUsage, proc *runtimeapi.ProcessUsage, fs *runtimeapi.FilesystemUsage) []*runtimeapi.Metric {
	var m []*runtimeapi.Metric
	add := func(name string, typ runtimeapi.MetricType, ts int64, v *runtimeapi.UInt64Value) {
		if v != nil {
			m = append(m, &runtimeapi.Metric{Name: name, Timestamp: ts, MetricType: typ, Value: v})
		}
	}
	if cpu != nil {
		add("container_cpu_usage_seconds_total", runtimeapi.MetricType_COUNTER, cpu.Timestamp, cpu.UsageCoreNanoSeconds)
	}
	if mem != nil {
		add("container_memory_working_set_bytes", runtimeapi.MetricType_GAUGE, mem.Timestamp, mem.WorkingSetBytes)
	}
	if proc != nil {
		add("container_processes", runtimeapi.MetricType_GAUGE, proc.Timestamp, proc.ProcessCount)
	}
	if fs != nil {
		add("container_fs_usage_bytes", runtimeapi.MetricType_GAUGE, fs.Timestamp, fs.UsedBytes)
	}
	return m
}
