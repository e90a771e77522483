package proc

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// This file renders /proc formats from plain data, byte for byte as Linux
// does (fs/proc/array.c, fs/proc/base.c, fs/proc/meminfo.c, ...), so the
// formats can be tested without a kernel.

// clockTicks is USER_HZ: the unit of times in stat files.
const clockTicks = 100

// nsToTicks converts nanoseconds to clock ticks.
func nsToTicks(ns int64) uint64 {
	if ns < 0 {
		return 0
	}
	return uint64(ns / (1e9 / clockTicks))
}

// statData is what /proc/[pid]/stat shows.
type statData struct {
	PID, PPID, PGID, SID int32
	Comm                 string
	State                byte
	UserNS, SysNS        int64
	CUserNS, CSysNS      int64
	Threads              int
	MinFlt               uint64 // page faults (none is counted as major)
	StartNS              int64  // since boot
	VSize, RSSPages      uint64
	Pending, Blocked     uint64
	Ignored, Caught      uint64
	ExitSignal           int
	ArgStart, ArgEnd     uint64
	EnvStart, EnvEnd     uint64
}

// formatStat renders /proc/[pid]/stat (52 fields).
func formatStat(d *statData) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d (%s) %c %d %d %d 0 -1 %d %d 0 0 0 %d %d %d %d 20 0 %d 0 %d %d %d %d",
		d.PID, d.Comm, d.State, d.PPID, d.PGID, d.SID,
		4194560, // PF_RANDOMIZE | PF_FORKNOEXEC-like flags, as a typical process
		d.MinFlt,
		nsToTicks(d.UserNS), nsToTicks(d.SysNS), nsToTicks(d.CUserNS), nsToTicks(d.CSysNS),
		d.Threads, nsToTicks(d.StartNS), d.VSize, d.RSSPages, uint64(18446744073709551615))
	// startcode endcode startstack kstkesp kstkeip
	b.WriteString(" 0 0 0 0 0")
	// signal blocked sigignore sigcatch (decimal, as Linux)
	fmt.Fprintf(&b, " %d %d %d %d", d.Pending&0xffffffff, d.Blocked&0xffffffff, d.Ignored&0xffffffff, d.Caught&0xffffffff)
	// wchan nswap cnswap exit_signal processor rt_priority policy
	// delayacct_blkio_ticks guest_time cguest_time start_data end_data
	// start_brk
	fmt.Fprintf(&b, " 0 0 0 %d 0 0 0 0 0 0 0 0 0", d.ExitSignal)
	// arg_start arg_end env_start env_end exit_code
	fmt.Fprintf(&b, " %d %d %d %d 0\n", d.ArgStart, d.ArgEnd, d.EnvStart, d.EnvEnd)
	return b.String()
}

// statusData is what /proc/[pid]/status shows.
type statusData struct {
	Name                   string
	Umask                  uint32
	State                  byte
	TGID, PID, PPID        int32
	PGID, SID              int32
	UIDs, GIDs             [4]uint32 // real, effective, saved, fs
	Groups                 []uint32
	FDSize                 int
	VSizeKB, RSSKB         uint64
	Threads                int
	SigPnd, ShdPnd         uint64
	SigBlk, SigIgn, SigCgt uint64
	CapInh, CapPrm, CapEff uint64
	CapBnd, CapAmb         uint64
	NoNewPrivs             bool
	Seccomp, NFilters      int // seccomp mode (0, 1, 2) and filters
	NumCPU                 int
	VoluntarySwitches      uint64
	NonvoluntarySwitches   uint64
}

// stateName is the long name of a state letter.
func stateName(s byte) string {
	switch s {
	case 'R':
		return "R (running)"
	case 'S':
		return "S (sleeping)"
	case 'D':
		return "D (disk sleep)"
	case 'T':
		return "T (stopped)"
	case 't':
		return "t (tracing stop)"
	case 'Z':
		return "Z (zombie)"
	case 'X':
		return "X (dead)"
	}
	return string(s)
}

// cpuMask renders a CPU bitmap as Linux does (32-bit hex words separated
// by commas, most significant first).
func cpuMask(n int) string {
	if n <= 0 {
		n = 1
	}
	words := (n + 31) / 32
	parts := make([]string, words)
	for w := 0; w < words; w++ {
		bits := n - w*32
		var v uint32
		if bits >= 32 {
			v = ^uint32(0)
		} else {
			v = 1<<uint(bits) - 1
		}
		if words == 1 {
			parts[words-1-w] = strconv.FormatUint(uint64(v), 16)
		} else {
			parts[words-1-w] = fmt.Sprintf("%08x", v)
		}
	}
	return strings.Join(parts, ",")
}

func cpuList(n int) string {
	if n <= 1 {
		return "0"
	}
	return fmt.Sprintf("0-%d", n-1)
}

// formatStatus renders /proc/[pid]/status.
func formatStatus(d *statusData) string {
	var b strings.Builder
	kb := func(name string, v uint64) { fmt.Fprintf(&b, "%s:\t%8d kB\n", name, v) }
	fmt.Fprintf(&b, "Name:\t%s\n", escapeName(d.Name))
	fmt.Fprintf(&b, "Umask:\t%04o\n", d.Umask)
	fmt.Fprintf(&b, "State:\t%s\n", stateName(d.State))
	fmt.Fprintf(&b, "Tgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n", d.TGID, d.PID, d.PPID)
	fmt.Fprintf(&b, "Uid:\t%d\t%d\t%d\t%d\n", d.UIDs[0], d.UIDs[1], d.UIDs[2], d.UIDs[3])
	fmt.Fprintf(&b, "Gid:\t%d\t%d\t%d\t%d\n", d.GIDs[0], d.GIDs[1], d.GIDs[2], d.GIDs[3])
	fmt.Fprintf(&b, "FDSize:\t%d\n", d.FDSize)
	b.WriteString("Groups:\t")
	for i, g := range d.Groups {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatUint(uint64(g), 10))
	}
	b.WriteString(" \n")
	fmt.Fprintf(&b, "NStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\n", d.TGID, d.PID, d.PGID, d.SID)
	if d.VSizeKB > 0 || d.RSSKB > 0 {
		kb("VmPeak", d.VSizeKB)
		kb("VmSize", d.VSizeKB)
		kb("VmLck", 0)
		kb("VmPin", 0)
		kb("VmHWM", d.RSSKB)
		kb("VmRSS", d.RSSKB)
		kb("RssAnon", d.RSSKB)
		kb("RssFile", 0)
		kb("RssShmem", 0)
		kb("VmData", d.VSizeKB)
		kb("VmStk", 132)
		kb("VmExe", 0)
		kb("VmLib", 0)
		kb("VmPTE", 0)
		kb("VmSwap", 0)
		kb("HugetlbPages", 0)
	}
	b.WriteString("CoreDumping:\t0\nTHP_enabled:\t1\n")
	fmt.Fprintf(&b, "Threads:\t%d\n", d.Threads)
	b.WriteString("SigQ:\t0/63474\n")
	fmt.Fprintf(&b, "SigPnd:\t%016x\nShdPnd:\t%016x\nSigBlk:\t%016x\nSigIgn:\t%016x\nSigCgt:\t%016x\n",
		d.SigPnd, d.ShdPnd, d.SigBlk, d.SigIgn, d.SigCgt)
	fmt.Fprintf(&b, "CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\n",
		d.CapInh, d.CapPrm, d.CapEff, d.CapBnd, d.CapAmb)
	nnp := 0
	if d.NoNewPrivs {
		nnp = 1
	}
	fmt.Fprintf(&b, "NoNewPrivs:\t%d\nSeccomp:\t%d\nSeccomp_filters:\t%d\n", nnp, d.Seccomp, d.NFilters)
	b.WriteString("Speculation_Store_Bypass:\tthread vulnerable\n")
	b.WriteString("SpeculationIndirectBranch:\tconditional enabled\n")
	fmt.Fprintf(&b, "Cpus_allowed:\t%s\nCpus_allowed_list:\t%s\n", cpuMask(d.NumCPU), cpuList(d.NumCPU))
	b.WriteString("Mems_allowed:\t00000000,00000001\nMems_allowed_list:\t0\n")
	fmt.Fprintf(&b, "voluntary_ctxt_switches:\t%d\nnonvoluntary_ctxt_switches:\t%d\n", d.VoluntarySwitches, d.NonvoluntarySwitches)
	return b.String()
}

// escapeName escapes a comm for status as Linux does (\n and \\).
func escapeName(s string) string {
	return strings.NewReplacer("\\", "\\\\", "\n", "\\n").Replace(s)
}

// formatStatm renders /proc/[pid]/statm (pages).
func formatStatm(vsize, rss uint64) string {
	const page = 4096
	return fmt.Sprintf("%d %d 0 0 0 %d 0\n", vsize/page, rss/page, vsize/page)
}

var limitNames = [...]struct{ name, unit string }{
	{"Max cpu time", "seconds"},
	{"Max file size", "bytes"},
	{"Max data size", "bytes"},
	{"Max stack size", "bytes"},
	{"Max core file size", "bytes"},
	{"Max resident set", "bytes"},
	{"Max processes", "processes"},
	{"Max open files", "files"},
	{"Max locked memory", "bytes"},
	{"Max address space", "bytes"},
	{"Max file locks", "locks"},
	{"Max pending signals", "signals"},
	{"Max msgqueue size", "bytes"},
	{"Max nice priority", ""},
	{"Max realtime priority", ""},
	{"Max realtime timeout", "us"},
}

// formatLimits renders /proc/[pid]/limits; lim gives (soft, hard) of
// RLIMIT_* number i.
func formatLimits(lim func(i int) (uint64, uint64)) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit", "Hard Limit", "Units")
	val := func(v uint64) string {
		if v == ^uint64(0) {
			return "unlimited"
		}
		return strconv.FormatUint(v, 10)
	}
	for i, l := range limitNames {
		cur, max := lim(i)
		fmt.Fprintf(&b, "%-25s %-20s %-20s ", l.name, val(cur), val(max))
		if l.unit != "" {
			fmt.Fprintf(&b, "%-10s", l.unit)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// formatMeminfo renders /proc/meminfo for a sandbox with total bytes of
// memory of which used are in use.
func formatMeminfo(total, used uint64) string {
	if used > total {
		used = total
	}
	free := total - used
	var b strings.Builder
	kb := func(name string, v uint64) { fmt.Fprintf(&b, "%-16s%8d kB\n", name+":", v/1024) }
	kb("MemTotal", total)
	kb("MemFree", free)
	kb("MemAvailable", free)
	kb("Buffers", 0)
	kb("Cached", 0)
	kb("SwapCached", 0)
	kb("Active", used)
	kb("Inactive", 0)
	kb("Active(anon)", used)
	kb("Inactive(anon)", 0)
	kb("Active(file)", 0)
	kb("Inactive(file)", 0)
	kb("Unevictable", 0)
	kb("Mlocked", 0)
	kb("SwapTotal", 0)
	kb("SwapFree", 0)
	kb("Dirty", 0)
	kb("Writeback", 0)
	kb("AnonPages", used)
	kb("Mapped", 0)
	kb("Shmem", 0)
	kb("KReclaimable", 0)
	kb("Slab", 0)
	kb("SReclaimable", 0)
	kb("SUnreclaim", 0)
	kb("KernelStack", 0)
	kb("PageTables", 0)
	kb("NFS_Unstable", 0)
	kb("Bounce", 0)
	kb("WritebackTmp", 0)
	kb("CommitLimit", total)
	kb("Committed_AS", used)
	kb("VmallocTotal", 34359738367*1024)
	kb("VmallocUsed", 0)
	kb("VmallocChunk", 0)
	kb("Percpu", 0)
	kb("HardwareCorrupted", 0)
	kb("AnonHugePages", 0)
	kb("ShmemHugePages", 0)
	kb("ShmemPmdMapped", 0)
	kb("FileHugePages", 0)
	kb("FilePmdMapped", 0)
	fmt.Fprintf(&b, "%-16s%8d\n", "HugePages_Total:", 0)
	fmt.Fprintf(&b, "%-16s%8d\n", "HugePages_Free:", 0)
	fmt.Fprintf(&b, "%-16s%8d\n", "HugePages_Rsvd:", 0)
	fmt.Fprintf(&b, "%-16s%8d\n", "HugePages_Surp:", 0)
	kb("Hugepagesize", 2048*1024)
	kb("Hugetlb", 0)
	kb("DirectMap4k", 0)
	kb("DirectMap2M", 0)
	return b.String()
}

// cpuStatData is what /proc/stat shows.
type cpuStatData struct {
	NumCPU        int
	UserNS, SysNS int64 // all tasks together
	UptimeNS      int64
	BootTime      int64 // seconds since the epoch
	Processes     uint64
	Running       int
}

// formatCPUStat renders /proc/stat. Busy time is spread evenly over the
// CPUs; idle time is the rest of each CPU's uptime.
func formatCPUStat(d *cpuStatData) string {
	n := d.NumCPU
	if n <= 0 {
		n = 1
	}
	user, sys := nsToTicks(d.UserNS), nsToTicks(d.SysNS)
	up := nsToTicks(d.UptimeNS)
	idle := uint64(0)
	if total := up * uint64(n); total > user+sys {
		idle = total - user - sys
	}
	var b strings.Builder
	line := func(name string, u, s, i uint64) {
		fmt.Fprintf(&b, "%s %d 0 %d %d 0 0 0 0 0 0\n", name, u, s, i)
	}
	line("cpu ", user, sys, idle)
	for c := 0; c < n; c++ {
		line("cpu"+strconv.Itoa(c), user/uint64(n), sys/uint64(n), idle/uint64(n))
	}
	b.WriteString("intr 0\nctxt 0\n")
	fmt.Fprintf(&b, "btime %d\n", d.BootTime)
	fmt.Fprintf(&b, "processes %d\n", d.Processes)
	fmt.Fprintf(&b, "procs_running %d\nprocs_blocked 0\n", max(d.Running, 1))
	b.WriteString("softirq 0 0 0 0 0 0 0 0 0 0 0\n")
	return b.String()
}

// formatUptime renders /proc/uptime.
func formatUptime(uptimeNS, idleNS int64) string {
	cs := func(ns int64) string { return fmt.Sprintf("%d.%02d", ns/1e9, (ns%1e9)/1e7) }
	return cs(uptimeNS) + " " + cs(idleNS) + "\n"
}

// formatLoadavg renders /proc/loadavg.
func formatLoadavg(running, total int, lastPID int32) string {
	return fmt.Sprintf("0.00 0.00 0.00 %d/%d %d\n", max(running, 1), total, lastPID)
}

// sandboxCPUInfo keeps the first n processors of the host's /proc/cpuinfo
// and renumbers them 0..n-1 (processor, core id, apicid, siblings and
// cpu cores follow the sandbox's count). If host is empty a minimal
// description is made up.
func sandboxCPUInfo(host string, n int) string {
	if n <= 0 {
		n = 1
	}
	blocks := strings.Split(strings.TrimRight(host, "\n"), "\n\n")
	if host == "" || len(blocks) == 0 {
		blocks = []string{"processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: unknown\nflags\t\t: fpu sse sse2\n"}
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		src := blocks[min(i, len(blocks)-1)]
		sc := bufio.NewScanner(strings.NewReader(src))
		for sc.Scan() {
			l := sc.Text()
			key, _, ok := strings.Cut(l, ":")
			if ok {
				k := strings.TrimSpace(key)
				switch k {
				case "processor", "core id", "apicid", "initial apicid":
					l = key + ": " + strconv.Itoa(i)
				case "siblings", "cpu cores":
					l = key + ": " + strconv.Itoa(n)
				case "physical id":
					l = key + ": 0"
				}
			}
			b.WriteString(l)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// formatFDInfo renders /proc/[pid]/fdinfo/N.
func formatFDInfo(pos int64, flags uint32, mntID int, ino uint64) string {
	return fmt.Sprintf("pos:\t%d\nflags:\t0%o\nmnt_id:\t%d\nino:\t%d\n", pos, flags, mntID, ino)
}
