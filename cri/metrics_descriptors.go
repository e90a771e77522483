package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Pod metrics (ListMetricDescriptors, ListPodSandboxMetrics) use
// cAdvisor's names, units and labels, as the kubelet's CRI metrics
// provider expects. Every metric has the base labels, then its own:
//
//	container  the container's name ("" for a pod-wide figure)
//	id         the container's ID (the pod's, for a pod-wide figure)
//	image      the container's image reference ("" for the pod)
//	name       the container's name (the pod's name for a pod-wide figure)
//	namespace  the pod's namespace
//	pod        the pod's name
//
// Values are integers (the CRI's UInt64Value): "_seconds" metrics are
// whole seconds. Where each figure comes from is said in
// sandbox_metrics_list.go; a described metric that is not reported says
// so in its help (no value is made up), and a zero that is a fact of the
// sandbox's accounting says why it is zero.

// metricDef is one metric: its descriptor less the base labels.
type metricDef struct {
	name  string
	help  string
	typ   runtimeapi.MetricType
	extra []string // label keys after the base ones
}

// baseLabelKeys are the labels of every metric, in this order.
var baseLabelKeys = []string{"container", "id", "image", "name", "namespace", "pod"}

const (
	counter = runtimeapi.MetricType_COUNTER
	gauge   = runtimeapi.MetricType_GAUGE
)

// metricDefs are the metrics described, in name order.
var metricDefs = []metricDef{
	{"container_blkio_device_usage_total", "Blkio device bytes usage. Not reported: the sandbox's file I/O goes through the gofer and is not accounted per block device.", counter, []string{"device", "major", "minor", "operation"}},
	{"container_cpu_cfs_periods_total", "Number of elapsed CFS enforcement period intervals (0: no CPU quota is enforced on the sandbox, so none elapsed).", counter, nil},
	{"container_cpu_cfs_throttled_periods_total", "Number of throttled CFS period intervals (0: no CPU quota is enforced on the sandbox, so none was throttled).", counter, nil},
	{"container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled (0: no CPU quota is enforced on the sandbox).", counter, nil},
	{"container_cpu_system_seconds_total", "Cumulative system CPU time consumed in seconds (whole seconds): time the sentry spent on the tasks' system calls and faults.", counter, nil},
	{"container_cpu_usage_seconds_total", "Cumulative CPU time consumed in seconds (whole seconds), from the sentry's accounting of its tasks.", counter, []string{"cpu"}},
	{"container_cpu_user_seconds_total", "Cumulative user CPU time consumed in seconds (whole seconds): time in application code.", counter, nil},
	{"container_file_descriptors", "Number of open file descriptors for the container (each fd table counted once).", gauge, nil},
	{"container_fs_inodes_free", "Number of available inodes of the file system holding the container's writable layer.", gauge, []string{"device"}},
	{"container_fs_inodes_total", "Number of inodes of the file system holding the container's writable layer.", gauge, []string{"device"}},
	{"container_fs_limit_bytes", "Number of bytes the container can consume on the file system holding its writable layer (its size: no per-container quota).", gauge, []string{"device"}},
	{"container_fs_reads_bytes_total", "Cumulative count of bytes read. Not reported: file I/O is not accounted per block device.", counter, []string{"device"}},
	{"container_fs_reads_total", "Cumulative count of reads completed. Not reported: file I/O is not accounted per block device.", counter, []string{"device"}},
	{"container_fs_usage_bytes", "Number of bytes consumed by the container's writable layer (its snapshot's usage).", gauge, []string{"device"}},
	{"container_fs_writes_bytes_total", "Cumulative count of bytes written. Not reported: file I/O is not accounted per block device.", counter, []string{"device"}},
	{"container_fs_writes_total", "Cumulative count of writes completed. Not reported: file I/O is not accounted per block device.", counter, []string{"device"}},
	{"container_hugetlb_max_usage_bytes", "Hugepage maximum usage. Not reported: the sandbox has no hugepages.", gauge, []string{"pagesize"}},
	{"container_hugetlb_usage_bytes", "Hugepage usage. Not reported: the sandbox has no hugepages.", gauge, []string{"pagesize"}},
	{"container_last_seen", "Last time the container was seen by the runtime, in Unix seconds.", gauge, nil},
	{"container_memory_cache", "Number of bytes of page cache memory charged to the container: 0, the sentry charges page cache and tmpfs to the pod's memory, not to containers.", gauge, nil},
	{"container_memory_failcnt", "Number of times a charge was refused at the container's memory limit.", counter, nil},
	{"container_memory_failures_total", "Cumulative count of page faults (failure_type pgfault or pgmajfault, scope container or hierarchy): every fault the sentry handles is counted as minor, so pgmajfault is 0.", counter, []string{"failure_type", "scope"}},
	{"container_memory_kernel_usage", "Size of kernel memory allocated in bytes: for the pod, the sentry's own anonymous memory (its kernel), outside the memory file.", gauge, nil},
	{"container_memory_mapped_file", "Size of memory mapped files charged to the container: 0, file pages are charged to the pod, not to containers.", gauge, nil},
	{"container_memory_max_usage_bytes", "Maximum memory charged to the container, in bytes.", gauge, nil},
	{"container_memory_rss", "Size of RSS in bytes: resident memory of the container's address spaces in the sentry.", gauge, nil},
	{"container_memory_swap", "Container swap usage in bytes (0: the sandbox has no swap).", gauge, nil},
	{"container_memory_usage_bytes", "Current memory usage in bytes: the memory charged to the container (anonymous and copy-on-write pages); for the pod, everything its memory file holds (application memory, page cache, tmpfs).", gauge, nil},
	{"container_memory_working_set_bytes", "Current working set in bytes (as container_memory_usage_bytes: the sentry keeps no inactive file list).", gauge, nil},
	{"container_network_receive_bytes_total", "Cumulative count of bytes received (per interface of the pod's network stack other than lo; an empty interface name with 0 when the pod has none).", counter, []string{"interface"}},
	{"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving (0: the pod's stack does not count them; per interface of the pod's network stack other than lo; an empty interface name with 0 when the pod has none).", counter, []string{"interface"}},
	{"container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving (0: the pod's stack does not count them; per interface of the pod's network stack other than lo; an empty interface name with 0 when the pod has none).", counter, []string{"interface"}},
	{"container_network_receive_packets_total", "Cumulative count of packets received (per interface of the pod's network stack other than lo; an empty interface name with 0 when the pod has none).", counter, []string{"interface"}},
	{"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted (per interface of the pod's network stack other than lo; an empty interface name with 0 when the pod has none).", counter, []string{"interface"}},
	{"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting (0: the pod's stack does not count them; per interface of the pod's network stack other than lo; an empty interface name with 0 when the pod has none).", counter, []string{"interface"}},
	{"container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting (0: the pod's stack does not count them; per interface of the pod's network stack other than lo; an empty interface name with 0 when the pod has none).", counter, []string{"interface"}},
	{"container_network_transmit_packets_total", "Cumulative count of packets transmitted (per interface of the pod's network stack other than lo; an empty interface name with 0 when the pod has none).", counter, []string{"interface"}},
	{"container_oom_events_total", "Count of processes of the container killed for lack of memory.", counter, nil},
	{"container_processes", "Number of processes running inside the container.", gauge, nil},
	{"container_sockets", "Number of open sockets for the container (descriptors that are sockets).", gauge, nil},
	{"container_spec_cpu_period", "CPU period of the container (its configured resources, not enforced).", gauge, nil},
	{"container_spec_cpu_quota", "CPU quota of the container (its configured resources, not enforced).", gauge, nil},
	{"container_spec_cpu_shares", "CPU share of the container (its configured resources, not enforced).", gauge, nil},
	{"container_spec_memory_limit_bytes", "Memory limit for the container (its configured resources; 0: none).", gauge, nil},
	{"container_spec_memory_swap_limit_bytes", "Memory swap limit for the container (its configured resources; 0: none).", gauge, nil},
	{"container_start_time_seconds", "Start time of the container since the Unix epoch in seconds.", gauge, nil},
	{"container_threads", "Number of threads running inside the container.", gauge, nil},
	{"container_threads_max", "Maximum number of threads allowed inside the container, infinity if value is zero (the sandbox sets no limit).", gauge, nil},
}

// metricDescriptors are metricDefs as the CRI has them.
var metricDescriptors = func() []*runtimeapi.MetricDescriptor {
	out := make([]*runtimeapi.MetricDescriptor, len(metricDefs))
	for i, d := range metricDefs {
		keys := append(append([]string(nil), baseLabelKeys...), d.extra...)
		out[i] = &runtimeapi.MetricDescriptor{Name: d.name, Help: d.help, LabelKeys: keys}
	}
	return out
}()

// ListMetricDescriptors implements CRI ListMetricDescriptors: every metric
// ListPodSandboxMetrics may report (and the cAdvisor ones it cannot yet,
// saying why in their help).
func (s *Server) ListMetricDescriptors(ctx context.Context, r *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	return &runtimeapi.ListMetricDescriptorsResponse{Descriptors: metricDescriptors}, nil
}
