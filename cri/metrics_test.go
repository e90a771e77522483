package cri

import (
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// critestMetricNames are the cAdvisor metrics critest's "PodSandbox
// metrics" specs expect (cri-tools pkg/validate/pod.go), and among them
// the ones it lets a runtime leave out (critestUnimplemented: no
// descriptor needed) or leave without values (critestOptional).
var (
	critestMetricNames = []string{
		"container_blkio_device_usage_total", "container_cpu_cfs_periods_total",
		"container_cpu_cfs_throttled_periods_total", "container_cpu_cfs_throttled_seconds_total",
		"container_cpu_system_seconds_total", "container_cpu_usage_seconds_total",
		"container_cpu_user_seconds_total", "container_file_descriptors", "container_fs_inodes_free",
		"container_fs_inodes_total", "container_fs_limit_bytes", "container_fs_reads_bytes_total",
		"container_fs_reads_total", "container_fs_usage_bytes", "container_fs_writes_bytes_total",
		"container_fs_writes_total", "container_hugetlb_max_usage_bytes", "container_hugetlb_usage_bytes",
		"container_last_seen", "container_memory_cache", "container_memory_failcnt",
		"container_memory_failures_total", "container_memory_kernel_usage", "container_memory_mapped_file",
		"container_memory_max_usage_bytes", "container_memory_rss", "container_memory_swap",
		"container_memory_usage_bytes", "container_memory_working_set_bytes",
		"container_network_receive_bytes_total", "container_network_receive_errors_total",
		"container_network_receive_packets_dropped_total", "container_network_receive_packets_total",
		"container_network_transmit_bytes_total", "container_network_transmit_errors_total",
		"container_network_transmit_packets_dropped_total", "container_network_transmit_packets_total",
		"container_oom_events_total", "container_pressure_cpu_stalled_seconds_total",
		"container_pressure_cpu_waiting_seconds_total", "container_pressure_io_stalled_seconds_total",
		"container_pressure_io_waiting_seconds_total", "container_pressure_memory_stalled_seconds_total",
		"container_pressure_memory_waiting_seconds_total", "container_processes", "container_sockets",
		"container_spec_cpu_period", "container_spec_cpu_quota", "container_spec_cpu_shares",
		"container_spec_memory_limit_bytes", "container_spec_memory_reservation_limit_bytes",
		"container_spec_memory_swap_limit_bytes", "container_start_time_seconds", "container_threads",
		"container_threads_max", "container_ulimits_soft",
	}
	critestUnimplemented = []string{
		"container_hugetlb_max_usage_bytes", "container_hugetlb_usage_bytes",
		"container_pressure_cpu_stalled_seconds_total", "container_pressure_cpu_waiting_seconds_total",
		"container_pressure_io_stalled_seconds_total", "container_pressure_io_waiting_seconds_total",
		"container_pressure_memory_stalled_seconds_total", "container_pressure_memory_waiting_seconds_total",
		"container_spec_cpu_quota", "container_spec_memory_reservation_limit_bytes", "container_ulimits_soft",
	}
	critestOptional = []string{
		"container_blkio_device_usage_total", "container_fs_reads_bytes_total", "container_fs_reads_total",
		"container_fs_writes_bytes_total", "container_fs_writes_total",
	}
)

// notReported are the described metrics ListPodSandboxMetrics has no
// figure for (block I/O is not accounted; the sandbox has no hugepages).
var notReported = []string{
	"container_blkio_device_usage_total", "container_fs_reads_bytes_total", "container_fs_reads_total",
	"container_fs_writes_bytes_total", "container_fs_writes_total", "container_hugetlb_max_usage_bytes",
	"container_hugetlb_usage_bytes",
}

// TestMetricDescriptors: every metric critest expects is described (but
// the ones it lets a runtime leave out), each with help and label keys
// starting with the base ones; names are unique and sorted; a metric
// described as not reported says so in its help.
func TestMetricDescriptors(t *testing.T) {
	seen := map[string]*runtimeapi.MetricDescriptor{}
	var names []string
	for _, d := range metricDescriptors {
		if seen[d.Name] != nil {
			t.Errorf("%s described twice", d.Name)
		}
		seen[d.Name] = d
		names = append(names, d.Name)
		if d.Help == "" || len(d.LabelKeys) < len(baseLabelKeys) || !slices.Equal(d.LabelKeys[:len(baseLabelKeys)], baseLabelKeys) {
			t.Errorf("%s: help %q, label keys %v", d.Name, d.Help, d.LabelKeys)
		}
		if slices.Contains(notReported, d.Name) != strings.Contains(d.Help, "Not reported") {
			t.Errorf("%s: help %q does not match whether it is reported", d.Name, d.Help)
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Error("metricDefs are not in name order")
	}
	for _, n := range critestMetricNames {
		if seen[n] == nil && !slices.Contains(critestUnimplemented, n) {
			t.Errorf("%s is not described", n)
		}
	}
	for _, d := range metricDefs {
		if d.typ != counter && d.typ != gauge {
			t.Errorf("%s: type %v", d.name, d.typ)
		}
		// cAdvisor's types: the _total metrics and failcnt are counters,
		// but container_fs_inodes_total (a size) is a gauge.
		isCounter := strings.HasSuffix(d.name, "_total") && d.name != "container_fs_inodes_total" || d.name == "container_memory_failcnt"
		if isCounter != (d.typ == counter) {
			t.Errorf("%s: type %v", d.name, d.typ)
		}
	}
}

// TestPodSandboxMetrics: a running container's metrics (and its pod's)
// come with as many label values as their descriptors have keys, every
// described metric has values but the ones said not to, and the values
// are the real ones: processes counted in the sandbox, memory and CPU as
// ContainerStats has them, the writable layer's growth after a write,
// statfs of the snapshot file system, the configured resources, the
// start time; the stream has the same pods.
func TestPodSandboxMetrics(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs)
	d.pull(t, e.image)
	ctx := ctxT(t)
	pcfg := podConfigFor("metrics", t.TempDir())
	podID := d.runPod(t, pcfg)
	cfg := ctrConfig("m", e.image, "sleep 1000")
	cfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
		CpuPeriod: 100000, CpuQuota: 20000, CpuShares: 1024,
		MemoryLimitInBytes: 64 << 20, MemorySwapLimitInBytes: 64 << 20,
	}}
	id := d.createStart(t, podID, pcfg, cfg)
	// 2 MiB into the writable layer, as critest writes its files.
	if r := d.exec(t, id, 20, "sh", "-c", "mkdir -p /tmp/m && dd if=/dev/zero of=/tmp/m/f bs=64k count=32 2>/dev/null && sync"); r.ExitCode != 0 {
		t.Fatalf("write: %d %s", r.ExitCode, r.Stderr)
	}

	descs, err := d.rt.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, desc := range descs.Descriptors {
		keys[desc.Name] = len(desc.LabelKeys)
	}
	r, err := d.rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var pm *runtimeapi.PodSandboxMetrics
	for _, m := range r.PodMetrics {
		if m.PodSandboxId == podID {
			pm = m
		}
	}
	if pm == nil || len(pm.ContainerMetrics) != 1 || pm.ContainerMetrics[0].ContainerId != id {
		t.Fatalf("metrics of the pod and its container: %v", r.PodMetrics)
	}
	podVals, ctrVals := map[string]*runtimeapi.Metric{}, map[string]*runtimeapi.Metric{}
	check := func(into map[string]*runtimeapi.Metric, ms []*runtimeapi.Metric) {
		for _, m := range ms {
			n, ok := keys[m.Name]
			if !ok {
				t.Errorf("%s is not described", m.Name)
			}
			if len(m.LabelValues) != n {
				t.Errorf("%s: %d label values, its descriptor has %d keys", m.Name, len(m.LabelValues), n)
			}
			if m.Timestamp == 0 || m.Value == nil {
				t.Errorf("%s: timestamp %d value %v", m.Name, m.Timestamp, m.Value)
			}
			into[m.Name] = m
		}
	}
	check(podVals, pm.Metrics)
	check(ctrVals, pm.ContainerMetrics[0].Metrics)
	for _, m := range append(pm.Metrics, pm.ContainerMetrics[0].Metrics...) {
		t.Logf("%s%v = %d", m.Name, m.LabelValues, m.Value.Value)
	}
	for name := range keys {
		_, inPod := podVals[name]
		_, inCtr := ctrVals[name]
		if reported := inPod || inCtr; reported == slices.Contains(notReported, name) {
			t.Errorf("%s: reported %v", name, reported)
		}
	}
	val := func(vals map[string]*runtimeapi.Metric, name string) uint64 {
		t.Helper()
		m := vals[name]
		if m == nil {
			t.Fatalf("no %s", name)
		}
		return m.Value.Value
	}
	if l := ctrVals["container_processes"].LabelValues; l[0] != "m" || l[1] != id || l[2] != e.image || l[4] != "default" || l[5] != "metrics" {
		t.Errorf("container labels %v", l)
	}
	if n := val(ctrVals, "container_processes"); n != 1 {
		t.Errorf("processes %d, want 1 (the container's sleep)", n)
	}
	if n := val(podVals, "container_processes"); n != 1 {
		t.Errorf("pod processes %d, want 1", n)
	}
	st, err := d.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	ws, sws := val(ctrVals, "container_memory_working_set_bytes"), st.Stats.Memory.WorkingSetBytes.Value
	if ws == 0 || ws > 2*sws || sws > 2*ws {
		t.Errorf("working set %d, ContainerStats has %d", ws, sws)
	}
	if pf := st.Stats.Memory.GetPageFaults().GetValue(); pf == 0 {
		t.Errorf("ContainerStats page faults %v", st.Stats.Memory.PageFaults)
	}
	if c, sc := val(ctrVals, "container_cpu_usage_seconds_total"), st.Stats.Cpu.UsageCoreNanoSeconds.Value/1e9; c > sc || c+1 < sc {
		t.Errorf("cpu %d s, ContainerStats has %d s", c, sc)
	}
	if u := val(ctrVals, "container_fs_usage_bytes"); u < 2<<20 {
		t.Errorf("writable layer %d bytes after a 2 MiB write", u)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(filepath.Join(root, "images"), &sfs); err != nil {
		t.Fatal(err)
	}
	if b := val(ctrVals, "container_fs_limit_bytes"); b != sfs.Blocks*uint64(sfs.Bsize) {
		t.Errorf("fs limit %d, statfs says %d", b, sfs.Blocks*uint64(sfs.Bsize))
	}
	if n := val(ctrVals, "container_fs_inodes_total"); n != sfs.Files {
		t.Errorf("fs inodes %d, statfs says %d", n, sfs.Files)
	}
	if dev := ctrVals["container_fs_usage_bytes"].LabelValues[6]; dev == "" {
		t.Error("no device label on the fs metrics")
	}
	for name, want := range map[string]uint64{
		"container_spec_cpu_period": 100000, "container_spec_cpu_quota": 20000, "container_spec_cpu_shares": 1024,
		"container_spec_memory_limit_bytes": 64 << 20, "container_spec_memory_swap_limit_bytes": 64 << 20,
	} {
		if v := val(ctrVals, name); v != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
	if s, want := val(ctrVals, "container_start_time_seconds"), d.ctrStatus(t, id).StartedAt/int64(time.Second); s != uint64(want) {
		t.Errorf("start time %d, status says %d", s, want)
	}
	if k := val(podVals, "container_memory_kernel_usage"); k < 1<<20 || k > 1<<30 {
		t.Errorf("the sentry's own memory: %d bytes", k)
	}
	if l := podVals["container_network_receive_bytes_total"].LabelValues; l[1] != podID || l[0] != "" || l[len(l)-1] != "" {
		t.Errorf("pod network labels %v", l)
	}
	if n := val(ctrVals, "container_threads"); n != 1 {
		t.Errorf("threads %d, want 1 (the container's sleep)", n)
	}
	if n := val(ctrVals, "container_file_descriptors"); n < 3 {
		t.Errorf("file descriptors %d, want its stdio at least", n)
	}
	if n := val(ctrVals, "container_sockets"); n != 0 {
		t.Errorf("sockets %d before any was opened", n)
	}
	if p, ws := val(ctrVals, "container_memory_max_usage_bytes"), val(ctrVals, "container_memory_working_set_bytes"); p < ws {
		t.Errorf("peak memory %d below the working set %d", p, ws)
	}
	if u, sy, c := val(ctrVals, "container_cpu_user_seconds_total"), val(ctrVals, "container_cpu_system_seconds_total"), val(ctrVals, "container_cpu_usage_seconds_total"); u+sy > c+1 || c > u+sy+1 {
		t.Errorf("user %d + system %d s, total %d s", u, sy, c)
	}

	// A listening socket and a second process move the counters.
	if r := d.exec(t, id, 20, "sh", "-c", "nc -l -p 7000 </dev/null >/dev/null 2>&1 & dd if=/dev/zero of=/dev/null bs=4M count=1 2>/dev/null"); r.ExitCode != 0 {
		t.Fatalf("exec: %d %s", r.ExitCode, r.Stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := d.rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		vals := map[string]uint64{}
		for _, m := range r.PodMetrics {
			for _, cm := range m.ContainerMetrics {
				if cm.ContainerId != id {
					continue
				}
				for _, mm := range cm.Metrics {
					if mm.Name == "container_memory_failures_total" && (mm.LabelValues[6] != "pgfault" || mm.LabelValues[7] != "container") {
						continue
					}
					vals[mm.Name] = mm.Value.Value
				}
			}
		}
		ok := vals["container_sockets"] == 1 && vals["container_threads"] == 2 && vals["container_processes"] == 2 &&
			vals["container_memory_failures_total"] > 0
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with nc listening: sockets %d threads %d processes %d faults %d; want 1, 2, 2, >0",
				vals["container_sockets"], vals["container_threads"], vals["container_processes"], vals["container_memory_failures_total"])
		}
		time.Sleep(100 * time.Millisecond)
	}

	stream, err := d.rt.StreamPodSandboxMetrics(ctx, &runtimeapi.StreamPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for {
		m, err := stream.Recv()
		if err != nil {
			break
		}
		for _, p := range m.PodSandboxMetrics {
			found = found || p.PodSandboxId == podID
		}
	}
	if !found {
		t.Error("StreamPodSandboxMetrics: the pod is missing")
	}
}

// TestNetworkUsage: PodSandboxStats' network usage leaves lo out and makes
// the first other interface the default one.
func TestNetworkUsage(t *testing.T) {
	if n := networkUsage(&control.StatsResult{Interfaces: []control.InterfaceStats{{Name: "lo", RxBytes: 5}}}, 1); n != nil {
		t.Errorf("lo only: %v", n)
	}
	n := networkUsage(&control.StatsResult{Interfaces: []control.InterfaceStats{
		{Name: "lo", RxBytes: 5}, {Name: "eth0", RxBytes: 10, TxBytes: 20}, {Name: "eth1", RxBytes: 1},
	}}, 7)
	if n == nil || n.Timestamp != 7 || len(n.Interfaces) != 2 || n.DefaultInterface.Name != "eth0" ||
		n.DefaultInterface.RxBytes.Value != 10 || n.DefaultInterface.TxBytes.Value != 20 || n.Interfaces[1].Name != "eth1" {
		t.Errorf("usage %v", n)
	}
}
