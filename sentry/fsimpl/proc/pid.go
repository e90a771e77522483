package proc

import (
	"strconv"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// processDir is /proc/[pid] (t == nil: the process, per-thread data from
// its leader) or /proc/[pid]/task/[tid] and /proc/[tid] (t set).
type processDir struct {
	*dir
	fs *filesystem
	tg *kernel.ThreadGroup
	t  *kernel.Task
}

// alive reports whether the process (or thread) still exists.
func (p *processDir) alive() bool {
	if p.fs.k.ThreadGroupByID(p.tg.ID()) != p.tg {
		return false
	}
	return p.t == nil || p.fs.k.TaskByID(p.t.ThreadID()) == p.t
}

// task returns the thread to read per-thread data from, or nil.
func (p *processDir) task() *kernel.Task {
	if p.t != nil {
		return p.t
	}
	return p.tg.Leader()
}

// safe wraps a generator so that a process dying under it (a nil leader,
// a released address space) gives ESRCH instead of taking the sentry down.
func safe(gen genFunc) genFunc {
	return func(ctx vfs.Context) (b []byte, err error) {
		defer func() {
			if r := recover(); r != nil {
				b, err = nil, unix.ESRCH
			}
		}()
		return gen(ctx)
	}
}

func (fs *filesystem) processDir(tg *kernel.ThreadGroup, t *kernel.Task) *processDir {
	base := "/" + strconv.Itoa(int(tg.ID()))
	if t != nil {
		base += "/task/" + strconv.Itoa(int(t.ThreadID()))
	}
	p := &processDir{fs: fs, tg: tg, t: t}
	file := func(name string, mode uint32, gen genFunc, write writeFunc) entry {
		return fileEntry(name, func() vfs.Inode {
			return p.own(fs.newFile(base+"/"+name, mode, safe(gen), write))
		})
	}
	entries := []entry{
		file("stat", 0o444, p.genStat, nil),
		file("status", 0o444, p.genStatus, nil),
		file("statm", 0o444, p.genStatm, nil),
		file("cmdline", 0o444, p.genArgs(true), nil),
		file("environ", 0o400, p.genArgs(false), nil),
		file("comm", 0o644, p.genComm, p.writeComm),
		file("maps", 0o444, p.genMaps, nil),
		file("mounts", 0o444, p.genMounts(false), nil),
		file("mountinfo", 0o444, p.genMounts(true), nil),
		file("limits", 0o444, p.genLimits, nil),
		file("cgroup", 0o444, static("0::/\n"), nil),
		file("oom_score", 0o444, static("0\n"), nil),
		file("oom_score_adj", 0o644, p.genOOMAdj, p.writeOOMAdj),
		file("oom_adj", 0o644, static("0\n"), func(vfs.Context, []byte) error { return nil }),
		file("loginuid", 0o644, static("4294967295"), func(vfs.Context, []byte) error { return nil }),
		file("io", 0o400, static("rchar: 0\nwchar: 0\nsyscr: 0\nsyscw: 0\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n"), nil),
		linkEntry("exe", func() vfs.Inode { return p.own(p.exeLink(base + "/exe")) }),
		linkEntry("cwd", func() vfs.Inode { return p.own(p.fsLink(base+"/cwd", false)) }),
		linkEntry("root", func() vfs.Inode { return p.own(p.fsLink(base+"/root", true)) }),
		dirEntry("fd", func() vfs.Inode { return p.own(p.fdDir(base+"/fd", false)) }),
		dirEntry("fdinfo", func() vfs.Inode { return p.own(p.fdDir(base+"/fdinfo", true)) }),
	}
	if t == nil {
		entries = append(entries, dirEntry("task", func() vfs.Inode { return p.own(p.taskDir(base + "/task")) }))
	}
	p.dir = fs.newDir(base, 0o555, entries)
	p.dir.owner = p.owner
	return p
}

// owner returns the process's owners as /proc shows them: its effective
// user and group (root once it is gone).
func (p *processDir) owner() (uid, gid uint32) {
	if t := p.task(); t != nil {
		if c := t.Credentials(); c != nil {
			return uint32(c.EffectiveUID), uint32(c.EffectiveGID)
		}
	}
	return 0, 0
}

// own makes ino's owners follow the process's.
func (p *processDir) own(ino vfs.Inode) vfs.Inode {
	if o, ok := ino.(ownable); ok {
		o.setOwner(p.owner)
	}
	return ino
}

// taskDir is /proc/[pid]/task.
func (p *processDir) taskDir(path string) vfs.Inode {
	fs := p.fs
	d := fs.newDir(path, 0o555, nil)
	d.dynamic = func(ctx vfs.Context) []entry {
		var out []entry
		for _, t := range p.tg.Tasks() {
			t := t
			out = append(out, dirEntry(strconv.Itoa(int(t.ThreadID())), func() vfs.Inode { return fs.processDir(p.tg, t) }))
		}
		return out
	}
	d.lookup = func(ctx vfs.Context, name string) (vfs.Inode, error) {
		id, err := strconv.Atoi(name)
		if err != nil {
			return nil, unix.ENOENT
		}
		for _, t := range p.tg.Tasks() {
			if int(t.ThreadID()) == id {
				return fs.processDir(p.tg, t), nil
			}
		}
		return nil, unix.ENOENT
	}
	d.revalidate = func(ctx vfs.Context, name string, child vfs.Inode) bool {
		c, ok := child.(*processDir)
		return ok && c.alive()
	}
	return d
}

func (p *processDir) state(ctx vfs.Context) byte {
	s := p.tg.State()
	if s == 'S' {
		if c := callerTask(ctx); c != nil && (c == p.t || (p.t == nil && c.ThreadGroup() == p.tg)) {
			s = 'R'
		}
	}
	return s
}

func (p *processDir) cpuTime() (user, sys int64) {
	if p.t != nil {
		return p.t.CPUTime()
	}
	for _, t := range p.tg.Tasks() {
		u, s := t.CPUTime()
		user += u
		sys += s
	}
	return
}

// pageFaults counts the thread's page faults, or those of the process's
// live threads.
func (p *processDir) pageFaults() uint64 {
	if p.t != nil {
		return p.t.PageFaults()
	}
	var n uint64
	for _, t := range p.tg.Tasks() {
		n += t.PageFaults()
	}
	return n
}

func (p *processDir) genStat(ctx vfs.Context) ([]byte, error) {
	t := p.task()
	pgid, sid := p.tg.GroupIDs()
	d := statData{
		PID:        int32(p.tg.ID()),
		PPID:       int32(p.tg.ParentID()),
		PGID:       int32(pgid),
		SID:        int32(sid),
		State:      p.state(ctx),
		Threads:    len(p.tg.Tasks()),
		ExitSignal: int(p.tg.ExitSignal()),
	}
	if p.t != nil {
		d.PID = int32(p.t.ThreadID())
	}
	d.UserNS, d.SysNS = p.cpuTime()
	d.MinFlt = p.pageFaults()
	d.CUserNS, d.CSysNS = p.tg.ChildTimes()
	if t != nil {
		d.Comm = t.Name()
		d.StartNS = t.StartTime()
		pend, shared, ign, caught := t.SignalState()
		d.Pending, d.Ignored, d.Caught = uint64(pend|shared), uint64(ign), uint64(caught)
		d.Blocked = uint64(t.SignalMask())
		if m := t.MemoryManager(); m != nil {
			d.VSize, d.RSSPages = m.VirtualSize(), m.ResidentSize()/4096
			as, ae, es, ee := m.ArgvEnv()
			d.ArgStart, d.ArgEnd, d.EnvStart, d.EnvEnd = uint64(as), uint64(ae), uint64(es), uint64(ee)
		}
	}
	return []byte(formatStat(&d)), nil
}

func (p *processDir) genStatus(ctx vfs.Context) ([]byte, error) {
	t := p.task()
	pgid, sid := p.tg.GroupIDs()
	d := statusData{
		State:   p.state(ctx),
		TGID:    int32(p.tg.ID()),
		PID:     int32(p.tg.ID()),
		PPID:    int32(p.tg.ParentID()),
		PGID:    int32(pgid),
		SID:     int32(sid),
		Threads: len(p.tg.Tasks()),
		NumCPU:  p.fs.opts.NumCPU,
		FDSize:  64,
	}
	if p.t != nil {
		d.PID = int32(p.t.ThreadID())
	}
	if t != nil {
		d.Name = t.Name()
		if c := t.Credentials(); c != nil {
			d.UIDs = [4]uint32{uint32(c.RealUID), uint32(c.EffectiveUID), uint32(c.SavedUID), uint32(c.FSUID)}
			d.GIDs = [4]uint32{uint32(c.RealGID), uint32(c.EffectiveGID), uint32(c.SavedGID), uint32(c.FSGID)}
			for _, g := range c.Groups {
				d.Groups = append(d.Groups, uint32(g))
			}
			d.CapInh, d.CapPrm, d.CapEff = uint64(c.Inheritable), uint64(c.Permitted), uint64(c.Effective)
			d.CapBnd, d.CapAmb = uint64(c.Bounding), uint64(c.Ambient)
			d.NoNewPrivs = c.NoNewPrivs
		}
		d.Seccomp, d.NFilters = t.SeccompMode(), t.SeccompFilterCount()
		if fsc := t.FSContext(); fsc != nil {
			d.Umask = fsc.Umask()
		}
		if ft := t.FDTable(); ft != nil {
			for d.FDSize < ft.Count() {
				d.FDSize *= 2
			}
		}
		pend, shared, ign, caught := t.SignalState()
		d.SigPnd, d.ShdPnd, d.SigIgn, d.SigCgt = uint64(pend), uint64(shared), uint64(ign), uint64(caught)
		d.SigBlk = uint64(t.SignalMask())
		if m := t.MemoryManager(); m != nil {
			d.VSizeKB, d.RSSKB = m.VirtualSize()/1024, m.ResidentSize()/1024
		}
	}
	return []byte(formatStatus(&d)), nil
}

func (p *processDir) genStatm(ctx vfs.Context) ([]byte, error) {
	t := p.task()
	if t == nil || t.MemoryManager() == nil {
		return []byte(formatStatm(0, 0)), nil
	}
	m := t.MemoryManager()
	return []byte(formatStatm(m.VirtualSize(), m.ResidentSize())), nil
}

// genArgs reads argv (cmdline) or envp (environ) from the process's memory.
func (p *processDir) genArgs(argv bool) genFunc {
	return func(ctx vfs.Context) ([]byte, error) {
		t := p.task()
		if t == nil {
			return nil, nil
		}
		m := t.MemoryManager()
		if m == nil {
			return nil, nil
		}
		as, ae, es, ee := m.ArgvEnv()
		start, end := as, ae
		if !argv {
			start, end = es, ee
		}
		if end <= start || end-start > 1<<20 {
			return nil, nil
		}
		buf := make([]byte, end-start)
		n, err := m.CopyIn(start, buf)
		if err != nil && n == 0 {
			return nil, nil
		}
		return buf[:n], nil
	}
}

func (p *processDir) genComm(ctx vfs.Context) ([]byte, error) {
	t := p.task()
	if t == nil {
		return []byte("\n"), nil
	}
	return []byte(t.Name() + "\n"), nil
}

// writeComm renames the thread; only threads of the caller's own process.
func (p *processDir) writeComm(ctx vfs.Context, data []byte) error {
	t := p.task()
	c := callerTask(ctx)
	if t == nil || c == nil || c.ThreadGroup() != p.tg {
		return unix.EINVAL
	}
	s := string(data)
	if n := len(s); n > 0 && s[n-1] == '\n' {
		s = s[:n-1]
	}
	t.SetName(s)
	return nil
}

func (p *processDir) genMaps(ctx vfs.Context) ([]byte, error) {
	t := p.task()
	if t == nil || t.MemoryManager() == nil {
		return nil, nil
	}
	return t.MemoryManager().Maps(), nil
}

func (p *processDir) genMounts(info bool) genFunc {
	return func(ctx vfs.Context) ([]byte, error) {
		t := p.task()
		if t == nil || t.FSContext() == nil {
			return nil, nil
		}
		root := t.FSContext().Root()
		defer root.DecRef()
		if info {
			return []byte(p.fs.v.GenerateProcMountInfo(root)), nil
		}
		return []byte(p.fs.v.GenerateProcMounts(root)), nil
	}
}

func (p *processDir) genLimits(ctx vfs.Context) ([]byte, error) {
	t := p.task()
	if t == nil {
		return nil, unix.ESRCH
	}
	return []byte(formatLimits(func(i int) (uint64, uint64) { return t.Rlimit(i) })), nil
}

func (p *processDir) genOOMAdj(ctx vfs.Context) ([]byte, error) {
	p.fs.oomMu.Lock()
	v := p.fs.oomAdj[p.tg]
	p.fs.oomMu.Unlock()
	return []byte(strconv.Itoa(int(v)) + "\n"), nil
}

func (p *processDir) writeOOMAdj(ctx vfs.Context, data []byte) error {
	s := string(data)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < -1000 || v > 1000 {
		return unix.EINVAL
	}
	fs := p.fs
	fs.oomMu.Lock()
	defer fs.oomMu.Unlock()
	// Forget processes that are gone while we are here.
	for tg := range fs.oomAdj {
		if fs.k.ThreadGroupByID(tg.ID()) != tg {
			delete(fs.oomAdj, tg)
		}
	}
	fs.oomAdj[p.tg] = int32(v)
	return nil
}

// readerRoot returns the root directory paths are shown from: the
// caller's, or the mount tree's. The caller drops the reference.
func (fs *filesystem) readerRoot(ctx vfs.Context) vfs.VirtualDentry {
	if c := callerTask(ctx); c != nil {
		if fsc := c.FSContext(); fsc != nil {
			return fsc.Root()
		}
	}
	return fs.v.RootMount()
}

// pathFrom renders vd as the reader sees it.
func (fs *filesystem) pathFrom(ctx vfs.Context, vd vfs.VirtualDentry) (string, error) {
	root := fs.readerRoot(ctx)
	defer root.DecRef()
	return fs.v.PathOf(root, vd)
}

// exeLink is /proc/[pid]/exe.
func (p *processDir) exeLink(path string) vfs.Inode {
	target := func(ctx vfs.Context) (string, error) {
		t := p.task()
		if t == nil {
			return "", unix.ENOENT
		}
		_, exe := t.Executable()
		if exe == "" {
			return "", unix.ENOENT
		}
		return exe, nil
	}
	j := &jumpLink{symlink: *p.fs.newSymlink(path, target)}
	j.jump = func(ctx vfs.Context) (vfs.VirtualDentry, error) {
		exe, err := target(ctx)
		if err != nil {
			return vfs.VirtualDentry{}, err
		}
		fsc := p.task().FSContext()
		if fsc == nil {
			return vfs.VirtualDentry{}, unix.ENOENT
		}
		root := fsc.Root()
		defer root.DecRef()
		return p.fs.v.GetDentryAt(ctx, &vfs.PathOperation{Root: root, Start: root, Path: exe, FollowFinalSymlink: true}, vfs.GetDentryOptions{})
	}
	return j
}

// fsLink is /proc/[pid]/cwd (root false) or /proc/[pid]/root.
func (p *processDir) fsLink(path string, root bool) vfs.Inode {
	place := func() (vfs.VirtualDentry, error) {
		t := p.task()
		if t == nil {
			return vfs.VirtualDentry{}, unix.ENOENT
		}
		fsc := t.FSContext()
		if fsc == nil {
			return vfs.VirtualDentry{}, unix.ENOENT
		}
		if root {
			return fsc.Root(), nil
		}
		return fsc.Cwd(), nil
	}
	j := &jumpLink{}
	j.symlink = *p.fs.newSymlink(path, func(ctx vfs.Context) (string, error) {
		vd, err := place()
		if err != nil {
			return "", err
		}
		defer vd.DecRef()
		return p.fs.pathFrom(ctx, vd)
	})
	j.jump = func(ctx vfs.Context) (vfs.VirtualDentry, error) { return place() }
	return j
}

// fdDir is /proc/[pid]/fd (info false) or /proc/[pid]/fdinfo.
func (p *processDir) fdDir(path string, info bool) vfs.Inode {
	fs := p.fs
	d := fs.newDir(path, 0o500, nil)
	if info {
		d.mode = linux.S_IFDIR | 0o555
	}
	table := func() *vfs.FDTable {
		if t := p.task(); t != nil {
			return t.FDTable()
		}
		return nil
	}
	typ := uint8(linux.DT_LNK)
	if info {
		typ = linux.DT_REG
	}
	d.dynamic = func(ctx vfs.Context) []entry {
		ft := table()
		if ft == nil {
			return nil
		}
		var out []entry
		for _, fd := range ft.FDs() {
			fd := fd
			out = append(out, entry{name: strconv.Itoa(int(fd)), typ: typ, make: func() vfs.Inode {
				return p.own(p.fdNode(path, ft, fd, info))
			}})
		}
		return out
	}
	d.lookup = func(ctx vfs.Context, name string) (vfs.Inode, error) {
		n, err := strconv.Atoi(name)
		if err != nil || n < 0 || strconv.Itoa(n) != name {
			return nil, unix.ENOENT
		}
		ft := table()
		if ft == nil {
			return nil, unix.ENOENT
		}
		f, _ := ft.Get(int32(n))
		if f == nil {
			return nil, unix.ENOENT
		}
		defer f.DecRef(ctx)
		ino := p.own(p.fdNode(path, ft, int32(n), info))
		if l, ok := ino.(*jumpLink); ok {
			l.mode = linux.S_IFLNK
			if f.Readable() || f.IsPath() {
				l.mode |= 0o500
			}
			if f.Writable() {
				l.mode |= 0o300
			}
		}
		return ino, nil
	}
	// fds come and go: always look them up again.
	d.revalidate = func(vfs.Context, string, vfs.Inode) bool { return false }
	return d
}

// fdNode is /proc/[pid]/fd/N (a link to the open file) or fdinfo/N.
func (p *processDir) fdNode(dirPath string, ft *vfs.FDTable, fd int32, info bool) vfs.Inode {
	path := dirPath + "/" + strconv.Itoa(int(fd))
	get := func() (*vfs.FileDescription, vfs.FDFlags, error) {
		f, flags := ft.Get(fd)
		if f == nil {
			return nil, flags, unix.ENOENT
		}
		return f, flags, nil
	}
	if info {
		return p.fs.newFile(path, 0o444, safe(func(ctx vfs.Context) ([]byte, error) {
			f, flags, err := get()
			if err != nil {
				return nil, err
			}
			defer f.DecRef(ctx)
			fl := f.StatusFlags()
			if flags.CloseOnExec {
				fl |= unix.O_CLOEXEC
			}
			vd := f.VirtualDentry()
			var ino uint64
			if st, err := f.Stat(ctx); err == nil {
				ino = st.Ino
			}
			return []byte(formatFDInfo(f.Offset(), fl, vd.Mount.ID(), ino)), nil
		}), nil)
	}
	j := &jumpLink{}
	j.symlink = *p.fs.newSymlink(path, func(ctx vfs.Context) (string, error) {
		f, _, err := get()
		if err != nil {
			return "", err
		}
		defer f.DecRef(ctx)
		return p.fs.pathFrom(ctx, f.VirtualDentry())
	})
	j.jump = func(ctx vfs.Context) (vfs.VirtualDentry, error) {
		f, _, err := get()
		if err != nil {
			return vfs.VirtualDentry{}, err
		}
		defer f.DecRef(ctx)
		vd := f.VirtualDentry()
		vd.IncRef()
		return vd, nil
	}
	return j
}
