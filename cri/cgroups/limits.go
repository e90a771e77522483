package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Limits are a pod's host limits. Zero fields are left unset (the kernel's default: none).
type Limits struct {
	// CPUQuota and CPUPeriod are in microseconds (CFS bandwidth); quota 0 or <0 means none.
	CPUQuota, CPUPeriod int64
	// CPUShares are v1 shares (2..262144); on v2 they are converted to cpu.weight.
	CPUShares uint64
	// MemoryBytes is the pod's memory bound including the sentry's own overhead.
	MemoryBytes int64
	// Pids is the maximum number of host tasks.
	Pids int64
}

// SharesToWeight converts v1 cpu.shares to v2 cpu.weight (the linear map of [2,262144]
// onto [1,10000] the OCI runtimes use).
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares < 2 {
		shares = 2
	}
	if shares > 262144 {
		shares = 262144
	}
	return 1 + ((shares-2)*9999)/262142
}

// Set writes l into the pod's cgroup; controllers that were skipped are ignored.
func (cg *Cgroup) Set(l Limits) error {
	var errs []error
	w := func(ctrl, file, val string) {
		d, ok := cg.Dirs[ctrl]
		if !ok {
			return
		}
		if err := os.WriteFile(filepath.Join(d, file), []byte(val), 0); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
		}
	}
	period := l.CPUPeriod
	if period <= 0 {
		period = 100000
	}
	if cg.h.V2 {
		if l.CPUQuota > 0 {
			w("", "cpu.max", fmt.Sprintf("%d %d", l.CPUQuota, period))
		} else if l.CPUPeriod > 0 {
			w("", "cpu.max", fmt.Sprintf("max %d", period))
		}
		if l.CPUShares > 0 {
			w("", "cpu.weight", strconv.FormatUint(SharesToWeight(l.CPUShares), 10))
		}
		if l.MemoryBytes > 0 {
			w("", "memory.max", strconv.FormatInt(l.MemoryBytes, 10))
		}
		if l.Pids > 0 {
			w("", "pids.max", strconv.FormatInt(l.Pids, 10))
		}
		return errors.Join(errs...)
	}
	if l.CPUQuota > 0 || l.CPUPeriod > 0 {
		w("cpu", "cpu.cfs_period_us", strconv.FormatInt(period, 10))
		q := int64(-1)
		if l.CPUQuota > 0 {
			q = l.CPUQuota
		}
		w("cpu", "cpu.cfs_quota_us", strconv.FormatInt(q, 10))
	}
	if l.CPUShares > 0 {
		w("cpu", "cpu.shares", strconv.FormatUint(l.CPUShares, 10))
	}
	if l.MemoryBytes > 0 {
		w("memory", "memory.limit_in_bytes", strconv.FormatInt(l.MemoryBytes, 10))
	}
	if l.Pids > 0 {
		w("pids", "pids.max", strconv.FormatInt(l.Pids, 10))
	}
	return errors.Join(errs...)
}

// CPUUsageNanos is the pod's total host CPU time (cpuacct.usage on v1, cpu.stat usage_usec on v2).
func (cg *Cgroup) CPUUsageNanos() (uint64, error) {
	if cg.h.V2 {
		d, ok := cg.Dirs[""]
		if !ok {
			return 0, os.ErrNotExist
		}
		b, err := os.ReadFile(filepath.Join(d, "cpu.stat"))
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "usage_usec" {
				n, err := strconv.ParseUint(f[1], 10, 64)
				return n * 1000, err
			}
		}
		return 0, fmt.Errorf("cgroups: no usage_usec in cpu.stat")
	}
	d, ok := cg.Dirs["cpuacct"]
	if !ok {
		return 0, os.ErrNotExist
	}
	b, err := os.ReadFile(filepath.Join(d, "cpuacct.usage"))
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}
