package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/mm"
)

func need(t *testing.T, paths ...string) {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s not available: %v", p, err)
		}
	}
}

func readU64(t *testing.T, m *mm.MemoryManager, addr uintptr) uint64 {
	t.Helper()
	var b [8]byte
	if _, err := m.CopyIn(addr, b[:]); err != nil {
		t.Fatalf("CopyIn(%#x): %v", addr, err)
	}
	return binary.LittleEndian.Uint64(b[:])
}

// checkStack reads the initial stack back and checks it against what Linux
// would have built.
func checkStack(t *testing.T, m *mm.MemoryManager, res Result, argv, envv []string, execfn string) map[uint64]uint64 {
	t.Helper()
	sp := res.StackPointer
	if sp%16 != 0 {
		t.Fatalf("sp %#x not 16-byte aligned", sp)
	}
	if argc := readU64(t, m, sp); argc != uint64(len(argv)) {
		t.Fatalf("argc = %d, want %d", argc, len(argv))
	}
	p := sp + 8
	readStrs := func(n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			s, err := m.CopyInString(uintptr(readU64(t, m, p)), 1<<16)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
			p += 8
		}
		if readU64(t, m, p) != 0 {
			t.Fatal("pointer array not NULL-terminated")
		}
		p += 8
		return out
	}
	if got := readStrs(len(argv)); !reflect.DeepEqual(got, argv) {
		t.Fatalf("argv = %q, want %q", got, argv)
	}
	if got := readStrs(len(envv)); !reflect.DeepEqual(got, envv) && len(envv) > 0 {
		t.Fatalf("envp = %q, want %q", got, envv)
	}
	var auxv []uint64
	aux := map[uint64]uint64{}
	for {
		k, v := readU64(t, m, p), readU64(t, m, p+8)
		p += 16
		auxv = append(auxv, k, v)
		if k == AT_NULL {
			break
		}
		aux[k] = v
	}
	if !reflect.DeepEqual(auxv, res.Auxv) || !reflect.DeepEqual(auxv, m.Auxv()) {
		t.Fatalf("auxv on the stack %v differs from Result %v", auxv, res.Auxv)
	}
	if s, _ := m.CopyInString(uintptr(aux[AT_EXECFN]), 4096); s != execfn {
		t.Fatalf("AT_EXECFN = %q, want %q", s, execfn)
	}
	if s, _ := m.CopyInString(uintptr(aux[AT_PLATFORM]), 64); s != "x86_64" {
		t.Fatalf("AT_PLATFORM = %q", s)
	}
	if _, err := m.CopyIn(uintptr(aux[AT_RANDOM]), make([]byte, 16)); err != nil {
		t.Fatal("AT_RANDOM unreadable")
	}
	for k, want := range map[uint64]uint64{AT_PAGESZ: 4096, AT_CLKTCK: 100, AT_PHENT: 56, AT_UID: 1000, AT_EUID: 1001, AT_GID: 1002, AT_EGID: 1003, AT_FLAGS: 0, AT_SECURE: 0} {
		if got, ok := aux[k]; !ok || got != want {
			t.Errorf("auxv[%d] = %d (%v), want %d", k, got, ok, want)
		}
	}
	if aux[AT_HWCAP] == 0 || aux[AT_HWCAP]&(1<<25) == 0 { // SSE on every x86-64
		t.Errorf("AT_HWCAP %#x lacks SSE", aux[AT_HWCAP])
	}
	if v, ok := aux[AT_SYSINFO_EHDR]; ok != (m.VDSOBase() != 0) || v != uint64(m.VDSOBase()) {
		t.Errorf("AT_SYSINFO_EHDR %#x (present %v), the mm's vDSO is at %#x", v, ok, m.VDSOBase())
	}
	a0, a1, e0, e1 := m.ArgvEnv()
	cmd := make([]byte, a1-a0)
	m.CopyIn(a0, cmd)
	if string(cmd) != strings.Join(argv, "\x00")+"\x00" || e0 != a1 || e1 < e0 {
		t.Fatalf("argv area %q", cmd)
	}
	return aux
}

// checkImage verifies that AT_PHDR shows the program headers and that the
// code at entry is the file's.
func checkImage(t *testing.T, m *mm.MemoryManager, path string, bias uintptr, entry uintptr, phdr uint64) {
	t.Helper()
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	raw, _ := os.ReadFile(path)
	if phdr != 0 {
		got := make([]byte, len(ef.Progs)*56)
		if _, err := m.CopyIn(uintptr(phdr), got); err != nil {
			t.Fatal(err)
		}
		hdr := new(elf.Header64)
		binary.Read(bytes.NewReader(raw), binary.LittleEndian, hdr)
		if !bytes.Equal(got, raw[hdr.Phoff:hdr.Phoff+uint64(len(got))]) {
			t.Fatal("AT_PHDR does not point at the program headers")
		}
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && ef.Entry >= p.Vaddr && ef.Entry < p.Vaddr+p.Filesz {
			off := p.Off + ef.Entry - p.Vaddr
			got := make([]byte, 32)
			if _, err := m.CopyIn(entry, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, raw[off:off+32]) {
				t.Fatal("code at entry differs from the file")
			}
			if entry != bias+uintptr(ef.Entry) {
				t.Fatalf("entry %#x, want %#x", entry, bias+uintptr(ef.Entry))
			}
			return
		}
	}
	t.Fatal("entry not in a segment")
}

func ids(a Args) Args {
	a.UID, a.EUID, a.GID, a.EGID = 1000, 1001, 1002, 1003
	a.DisableASLR = true
	return a
}

func TestLoadStaticBusybox(t *testing.T) {
	need(t, "/bin/busybox")
	e := newTestEnv(t)
	m := e.newMM()
	argv := []string{"busybox", "echo", "hi"}
	envv := []string{"A=1", "PATH=/bin:/usr/bin"}
	res, err := Load(m, ids(Args{Filename: "/bin/busybox", Argv: argv, Envv: envv, Opener: e.open}))
	if err != nil {
		t.Fatal(err)
	}
	aux := checkStack(t, m, res, argv, envv, "/bin/busybox")
	if res.Interpreter != "" || aux[AT_BASE] != 0 || res.LoadBias != 0 {
		t.Fatalf("static binary: interp %q base %#x bias %#x", res.Interpreter, aux[AT_BASE], res.LoadBias)
	}
	if aux[AT_ENTRY] != uint64(res.Entry) {
		t.Fatal("AT_ENTRY != entry")
	}
	checkImage(t, m, "/bin/busybox", 0, res.Entry, aux[AT_PHDR])
	maps := string(m.Maps())
	if !strings.Contains(maps, "[stack]") || !strings.Contains(maps, " /bin/busybox\n") {
		t.Fatalf("maps:\n%s", maps)
	}
	if brk, _ := m.Brk(0); brk != res.BrkStart || brk%4096 != 0 {
		t.Fatalf("brk %#x, BrkStart %#x", brk, res.BrkStart)
	}
	if res.ExecFile.Name() != "/bin/busybox" {
		t.Fatal("ExecFile")
	}
	m.DecUsers()
	e.dropAll()
	if u := e.mf.Used(); u != 0 {
		t.Fatalf("memfile.Used() = %d after release", u)
	}
}

func TestLoadDynamicLs(t *testing.T) {
	need(t, "/bin/ls", "/lib64/ld-linux-x86-64.so.2")
	e := newTestEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	argv := []string{"ls", "-l"}
	res, err := Load(m, ids(Args{Filename: "/bin/ls", Argv: argv, Envv: []string{"X=y"}, Opener: e.open}))
	if err != nil {
		t.Fatal(err)
	}
	aux := checkStack(t, m, res, argv, []string{"X=y"}, "/bin/ls")
	if res.Interpreter != "/lib64/ld-linux-x86-64.so.2" {
		t.Fatalf("interpreter %q", res.Interpreter)
	}
	if res.LoadBias != dynBase {
		t.Fatalf("PIE bias %#x, want %#x", res.LoadBias, dynBase)
	}
	if aux[AT_BASE] != uint64(res.InterpBias) || res.InterpBias == 0 || res.InterpBias < 0x7f0000000000 {
		t.Fatalf("AT_BASE %#x interp bias %#x", aux[AT_BASE], res.InterpBias)
	}
	ef, _ := elf.Open("/bin/ls")
	defer ef.Close()
	if aux[AT_ENTRY] != uint64(res.LoadBias)+ef.Entry {
		t.Fatalf("AT_ENTRY %#x", aux[AT_ENTRY])
	}
	checkImage(t, m, "/lib64/ld-linux-x86-64.so.2", res.InterpBias, res.Entry, 0)
	checkImage(t, m, "/bin/ls", res.LoadBias, res.LoadBias+uintptr(ef.Entry), aux[AT_PHDR])
	maps := string(m.Maps())
	if !strings.Contains(maps, "/lib64/ld-linux-x86-64.so.2\n") || !strings.Contains(maps, "555555554000-") {
		t.Fatalf("maps:\n%s", maps)
	}
	// Every byte of every PT_LOAD file part reads back like the file.
	raw, _ := os.ReadFile("/bin/ls")
	for _, p := range ef.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		got := make([]byte, p.Filesz)
		if _, err := m.CopyIn(res.LoadBias+uintptr(p.Vaddr), got); err != nil {
			t.Fatal(err)
		}
		if p.Flags&elf.PF_W == 0 && !bytes.Equal(got, raw[p.Off:p.Off+p.Filesz]) {
			t.Fatalf("segment at %#x differs", p.Vaddr)
		}
		if p.Memsz > p.Filesz {
			bss := make([]byte, p.Memsz-p.Filesz)
			m.CopyIn(res.LoadBias+uintptr(p.Vaddr+p.Filesz), bss)
			if !bytes.Equal(bss, make([]byte, len(bss))) {
				t.Fatal("bss not zero")
			}
		}
	}
}

func TestLoadStaticPIE(t *testing.T) {
	// ld.so is ET_DYN without PT_INTERP, like a static-PIE program.
	need(t, "/lib64/ld-linux-x86-64.so.2")
	e := newTestEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	res, err := Load(m, ids(Args{Filename: "/lib64/ld-linux-x86-64.so.2", Argv: []string{"ld.so"}, Opener: e.open}))
	if err != nil {
		t.Fatal(err)
	}
	if res.LoadBias != dynBase || res.Interpreter != "" {
		t.Fatalf("bias %#x interp %q", res.LoadBias, res.Interpreter)
	}
	aux := checkStack(t, m, res, []string{"ld.so"}, nil, "/lib64/ld-linux-x86-64.so.2")
	checkImage(t, m, "/lib64/ld-linux-x86-64.so.2", res.LoadBias, res.Entry, aux[AT_PHDR])
	// With randomisation the base moves but stays page-aligned.
	m2 := e.newMM()
	defer m2.DecUsers()
	res2, err := Load(m2, Args{Filename: "/lib64/ld-linux-x86-64.so.2", Argv: []string{"ld.so"}, Opener: e.open})
	if err != nil {
		t.Fatal(err)
	}
	if res2.LoadBias%4096 != 0 || res2.LoadBias < dynBase || res2.StackPointer%16 != 0 {
		t.Fatalf("random bias %#x sp %#x", res2.LoadBias, res2.StackPointer)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadScript(t *testing.T) {
	need(t, "/bin/busybox")
	e := newTestEnv(t)
	dir := t.TempDir()
	s := writeFile(t, dir, "script", "#! /bin/busybox  sh -x \t\necho hi\n")
	m := e.newMM()
	defer m.DecUsers()
	res, err := Load(m, ids(Args{Filename: s, Argv: []string{"myscript", "a1", "a2"}, Opener: e.open}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/bin/busybox", "sh -x", s, "a1", "a2"}
	if !reflect.DeepEqual(res.Argv, want) {
		t.Fatalf("argv %q, want %q", res.Argv, want)
	}
	checkStack(t, m, res, want, nil, s)
	if res.ExecFile.Name() != "/bin/busybox" || res.Filename != "/bin/busybox" {
		t.Fatalf("exec file %q", res.ExecFile.Name())
	}

	// Nested scripts: four levels are fine, five are ELOOP.
	prev := "/bin/busybox"
	var chain []string
	for i := 0; i < 5; i++ {
		prev = writeFile(t, dir, "s"+string(rune('0'+i)), "#!"+prev+"\n")
		chain = append(chain, prev)
	}
	m2 := e.newMM()
	defer m2.DecUsers()
	res, err = Load(m2, ids(Args{Filename: chain[3], Argv: []string{"x"}, Opener: e.open}))
	if err != nil {
		t.Fatalf("4 nested scripts: %v", err)
	}
	want = []string{"/bin/busybox", chain[0], chain[1], chain[2], chain[3]}
	if !reflect.DeepEqual(res.Argv, want) {
		t.Fatalf("nested argv %q, want %q", res.Argv, want)
	}
	m3 := e.newMM()
	defer m3.DecUsers()
	if _, err := Load(m3, ids(Args{Filename: chain[4], Argv: []string{"x"}, Opener: e.open})); err != unix.ELOOP {
		t.Fatalf("5 nested scripts: %v", err)
	}
}

func TestLoadJunk(t *testing.T) {
	e := newTestEnv(t)
	dir := t.TempDir()
	elf32 := "\x7fELF\x01\x01\x01" + strings.Repeat("\x00", 60)
	for name, content := range map[string]string{
		"text":     "hello world\n",
		"empty":    "",
		"shebang":  "#!\n",
		"spaces":   "#!   \t\n",
		"elf32":    elf32,
		"shortelf": "\x7fELF\x02\x01\x01",
	} {
		p := writeFile(t, dir, name, content)
		m := e.newMM()
		_, err := Load(m, ids(Args{Filename: p, Argv: []string{"x"}, Opener: e.open}))
		if err != unix.ENOEXEC {
			t.Errorf("%s: %v, want ENOEXEC", name, err)
		}
		m.DecUsers()
	}
	m := e.newMM()
	defer m.DecUsers()
	if _, err := Load(m, ids(Args{Filename: filepath.Join(dir, "missing"), Opener: e.open})); err == nil {
		t.Error("missing file loaded")
	}
}
