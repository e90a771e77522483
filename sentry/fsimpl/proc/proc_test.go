package proc

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

func TestFormatStat(t *testing.T) {
	s := formatStat(&statData{PID: 7, PPID: 1, PGID: 7, SID: 1, Comm: "my prog)", State: 'S',
		UserNS: 2.5e9, Threads: 3, StartNS: 1e9, VSize: 1 << 20, RSSPages: 12, ExitSignal: 17})
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Fatalf("not one line: %q", s)
	}
	// procps parses from the last ')'.
	rest := s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(rest)
	if len(f)+2 != 52 {
		t.Fatalf("%d fields, want 52: %q", len(f)+2, s)
	}
	// Field numbers are 1-based in proc(5); f[0] is field 3.
	want := map[int]string{3: "S", 4: "1", 5: "7", 6: "1", 7: "0", 8: "-1", 14: "250", 18: "20", 19: "0", 20: "3", 22: "100", 23: "1048576", 24: "12", 38: "17"}
	for n, v := range want {
		if f[n-3] != v {
			t.Errorf("field %d = %q, want %q", n, f[n-3], v)
		}
	}
	if !strings.HasPrefix(s, "7 (my prog)) S ") {
		t.Fatalf("prefix %q", s[:20])
	}
}

func TestFormatStatus(t *testing.T) {
	s := formatStatus(&statusData{Name: "sh", Umask: 0o22, State: 'R', TGID: 5, PID: 5, PPID: 1, PGID: 5, SID: 1,
		UIDs: [4]uint32{1000, 1000, 1000, 1000}, Groups: []uint32{10, 20}, FDSize: 64,
		VSizeKB: 8548, RSSKB: 1234, Threads: 1, SigBlk: 1 << 16, CapBnd: 0x1ffffffffff, NumCPU: 4})
	for _, line := range []string{
		"Name:\tsh\n", "Umask:\t0022\n", "State:\tR (running)\n", "Tgid:\t5\n", "PPid:\t1\n",
		"Uid:\t1000\t1000\t1000\t1000\n", "Groups:\t10 20 \n", "VmSize:\t    8548 kB\n",
		"VmRSS:\t    1234 kB\n", "Threads:\t1\n", "SigBlk:\t0000000000010000\n",
		"CapBnd:\t000001ffffffffff\n", "Cpus_allowed:\tf\n", "Cpus_allowed_list:\t0-3\n",
	} {
		if !strings.Contains(s, line) {
			t.Errorf("status lacks %q", line)
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if !strings.Contains(l, ":\t") {
			t.Errorf("malformed line %q", l)
		}
	}
	if got := cpuMask(40); got != "000000ff,ffffffff" {
		t.Errorf("cpuMask(40) = %q", got)
	}
}

func TestFormatLimits(t *testing.T) {
	s := formatLimits(func(i int) (uint64, uint64) {
		if i == 7 {
			return 1024, 4096
		}
		return ^uint64(0), ^uint64(0)
	})
	lines := strings.Split(s, "\n")
	if lines[0] != "Limit                     Soft Limit           Hard Limit           Units     " {
		t.Fatalf("header %q", lines[0])
	}
	if lines[8] != "Max open files            1024                 4096                 files     " {
		t.Fatalf("nofile %q", lines[8])
	}
	if lines[14] != "Max nice priority         unlimited            unlimited            " {
		t.Fatalf("nice %q", lines[14])
	}
	if len(lines) != 18 {
		t.Fatalf("%d lines", len(lines))
	}
}

func TestFormatMeminfoStatUptime(t *testing.T) {
	m := formatMeminfo(2<<30, 1<<30)
	if !strings.HasPrefix(m, "MemTotal:        2097152 kB\nMemFree:         1048576 kB\nMemAvailable:    1048576 kB\n") {
		t.Fatalf("meminfo:\n%s", m[:120])
	}
	if !strings.Contains(m, "HugePages_Total:       0\n") {
		t.Fatal("HugePages_Total line")
	}
	st := formatCPUStat(&cpuStatData{NumCPU: 2, UserNS: 2e9, SysNS: 1e9, UptimeNS: 10e9, BootTime: 1700000000, Processes: 9})
	if !strings.HasPrefix(st, "cpu  200 0 100 1700 0 0 0 0 0 0\ncpu0 100 0 50 850 0 0 0 0 0 0\ncpu1 ") {
		t.Fatalf("stat:\n%s", st)
	}
	for _, l := range []string{"btime 1700000000\n", "processes 9\n", "procs_running 1\n"} {
		if !strings.Contains(st, l) {
			t.Errorf("stat lacks %q", l)
		}
	}
	if u := formatUptime(12345e7, 5e8); u != "123.45 0.50\n" {
		t.Fatalf("uptime %q", u)
	}
	if l := formatLoadavg(1, 3, 42); l != "0.00 0.00 0.00 1/3 42\n" {
		t.Fatalf("loadavg %q", l)
	}
	if fi := formatFDInfo(5, unix.O_RDWR|unix.O_CLOEXEC, 3, 99); fi != "pos:\t5\nflags:\t02000002\nmnt_id:\t3\nino:\t99\n" {
		t.Fatalf("fdinfo %q", fi)
	}
}

func TestCPUInfo(t *testing.T) {
	host := ""
	for i := 0; i < 4; i++ {
		host += "processor\t: " + string(rune('0'+i)) + "\nvendor_id\t: GenuineIntel\ncore id\t\t: " + string(rune('0'+i)) + "\nsiblings\t: 8\ncpu cores\t: 4\nflags\t\t: fpu sse\n\n"
	}
	s := sandboxCPUInfo(host, 2)
	if strings.Count(s, "processor\t: ") != 2 || !strings.Contains(s, "processor\t: 1\n") {
		t.Fatalf("cpuinfo:\n%s", s)
	}
	if !strings.Contains(s, "siblings\t: 2\n") || !strings.Contains(s, "cpu cores\t: 2\n") {
		t.Fatalf("counts not adjusted:\n%s", s)
	}
	if !strings.HasSuffix(s, "fpu sse\n\n") {
		t.Fatalf("blocks must end with a blank line: %q", s[len(s)-20:])
	}
	// More sandbox CPUs than the host text describes: repeat the last.
	if s := sandboxCPUInfo(host, 6); strings.Count(s, "processor") != 6 {
		t.Fatal("6 cpus")
	}
}

type ctx struct{ creds *auth.Credentials }

func (c ctx) Credentials() *auth.Credentials { return c.creds }

// TestTree mounts procfs over a kernel without processes.
func TestTree(t *testing.T) {
	root := ctx{auth.NewCredentials(0, 0, nil, auth.AllCaps)}
	user := ctx{auth.NewCredentials(1000, 1000, nil, 0)}
	v := vfs.New()
	mf, err := memfile.New("proc-test", 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	k := kernel.New(kernel.Config{VFS: v, MemFile: mf, Hostname: "box"})
	fs := New(v, k, Options{NumCPU: 2, HostCPUInfo: "processor\t: 0\nmodel name\t: test\n"})
	mnt := v.MountRoot(fs, "proc", vfs.MountFlags{})
	pop := func(p string) *vfs.PathOperation {
		return &vfs.PathOperation{Root: mnt, Start: mnt, Path: p, FollowFinalSymlink: true}
	}
	read := func(c vfs.Context, p string) string {
		t.Helper()
		fd, err := v.OpenAt(c, pop(p), vfs.OpenOptions{Flags: unix.O_RDONLY})
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		defer fd.DecRef(c)
		var out []byte
		buf := make([]byte, 100)
		for {
			n, err := fd.Read(c, [][]byte{buf})
			if err != nil {
				t.Fatalf("read %s: %v", p, err)
			}
			if n == 0 {
				return string(out)
			}
			out = append(out, buf[:n]...)
		}
	}
	if s := read(root, "meminfo"); !strings.HasPrefix(s, "MemTotal:          16384 kB\n") {
		t.Fatalf("meminfo %q", s[:40])
	}
	if s := read(root, "cpuinfo"); strings.Count(s, "processor") != 2 {
		t.Fatalf("cpuinfo %q", s)
	}
	if s := read(root, "sys/kernel/hostname"); s != "box\n" {
		t.Fatalf("hostname %q", s)
	}
	if s := read(root, "sys/kernel/ostype"); s != "Linux\n" {
		t.Fatalf("ostype %q", s)
	}
	if s := read(root, "sys/kernel/random/boot_id"); len(s) != 37 || s != read(root, "sys/kernel/random/boot_id") {
		t.Fatalf("boot_id %q", s)
	}
	if a, b := read(root, "sys/kernel/random/uuid"), read(root, "sys/kernel/random/uuid"); a == b || len(a) != 37 {
		t.Fatalf("uuid %q %q", a, b)
	}
	if s := read(root, "stat"); !strings.HasPrefix(s, "cpu  ") {
		t.Fatalf("stat %q", s)
	}
	// Writing the hostname needs CAP_SYS_ADMIN.
	fd, err := v.OpenAt(root, pop("sys/kernel/hostname"), vfs.OpenOptions{Flags: unix.O_WRONLY})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Write(root, [][]byte{[]byte("newname\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Write(user, [][]byte{[]byte("x")}); err != unix.EPERM {
		t.Fatalf("unprivileged hostname write: %v", err)
	}
	fd.DecRef(root)
	if k.Hostname() != "newname" {
		t.Fatalf("hostname %q", k.Hostname())
	}
	if _, err := v.OpenAt(user, pop("sys/kernel/hostname"), vfs.OpenOptions{Flags: unix.O_WRONLY}); err != unix.EACCES {
		t.Fatalf("open for write by a user: %v", err)
	}
	if _, err := v.OpenAt(root, pop("cpuinfo"), vfs.OpenOptions{Flags: unix.O_WRONLY}); err != unix.EACCES {
		t.Fatalf("open read-only file for write: %v", err)
	}
	// No caller task: /proc/self does not resolve; no such pid.
	if _, err := v.StatAt(root, pop("self/status")); err != unix.ENOENT {
		t.Fatalf("self without a task: %v", err)
	}
	if _, err := v.StatAt(root, pop("1")); err != unix.ENOENT {
		t.Fatalf("/proc/1 without processes: %v", err)
	}
	if tgt, err := v.ReadlinkAt(root, pop("mounts")); tgt != "self/mounts" || err != nil {
		t.Fatalf("mounts link %q %v", tgt, err)
	}
	// Directory listing.
	dfd, err := v.OpenAt(root, pop("."), vfs.OpenOptions{Flags: unix.O_RDONLY | unix.O_DIRECTORY})
	if err != nil {
		t.Fatal(err)
	}
	defer dfd.DecRef(root)
	buf := make([]byte, 4096)
	n, err := dfd.Getdents(root, buf, false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for off := 0; off < n; {
		reclen := int(binary.LittleEndian.Uint16(buf[off+16:]))
		nm := buf[off+19 : off+reclen]
		names = append(names, string(nm[:bytes.IndexByte(nm, 0)]))
		off += reclen
	}
	all := strings.Join(names, " ")
	for _, want := range []string{"self", "thread-self", "cpuinfo", "meminfo", "sys", "uptime", "loadavg", "version", "filesystems"} {
		if !strings.Contains(" "+all+" ", " "+want+" ") {
			t.Errorf("readdir lacks %s: %s", want, all)
		}
	}
	if st, err := v.StatAt(root, pop("sys/vm")); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Fatalf("sys/vm: %#o %v", st.Mode, err)
	}
}
