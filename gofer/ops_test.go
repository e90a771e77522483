package gofer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/runsc-cri/runsc-cri/gofer"
	"github.com/runsc-cri/runsc-cri/gofer/client"
	"golang.org/x/sys/unix"
)

func TestAttachWalkStat(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/a/b/file", "hello")
	c := serve(t, dir, gofer.Options{})
	r := root(t, c)

	files, sts, err := r.Walk("a", "b", "file")
	if err != nil || len(files) != 3 {
		t.Fatalf("Walk: %v %v", files, err)
	}
	want := lstat(t, dir+"/a/b/file")
	got := sts[2]
	if got.Ino != want.Ino || got.Dev != want.Dev || got.Mode != want.Mode || got.Size != 5 ||
		got.Nlink != want.Nlink || got.UID != want.Uid || got.GID != want.Gid ||
		got.Blksize != int64(want.Blksize) || got.Blocks != want.Blocks ||
		got.Mtime != want.Mtim.Nano() || got.Atime != want.Atim.Nano() || got.Ctime != want.Ctim.Nano() {
		t.Errorf("stat mismatch: got %+v want %+v", got, want)
	}
	st, err := files[2].Stat()
	if err != nil || st != got {
		t.Errorf("Stat: %+v %v, want %+v", st, err, got)
	}
	if sts[0].Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("a is %o", sts[0].Mode)
	}

	// Stops at the first missing component with the prefix walked.
	files2, _, err := r.Walk("a", "missing", "x")
	wantErr(t, "walk missing", err, unix.ENOENT)
	if len(files2) != 1 {
		t.Errorf("partial walk returned %d files", len(files2))
	}
	_, _, err = files[2].Walk("x")
	wantErr(t, "walk through file", err, unix.ENOTDIR)

	// Attach a subdirectory.
	sub, st, err := c.Attach("a/b")
	if err != nil || st.Ino != lstat(t, dir+"/a/b").Ino {
		t.Fatalf("Attach(a/b): %v", err)
	}
	if _, _, err := sub.Walk("file"); err != nil {
		t.Errorf("walk from attached: %v", err)
	}
	_, _, err = c.Attach("nope")
	wantErr(t, "attach missing", err, unix.ENOENT)

	// Long walks are split over several requests.
	deep := dir
	var names []string
	for i := 0; i < 300; i++ {
		names = append(names, "d")
		deep += "/d"
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	fs, _, err := r.Walk(names...)
	if err != nil || len(fs) != 300 {
		t.Fatalf("deep walk: %d %v", len(fs), err)
	}
	c.CloseFiles(fs...)
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/f", "data")
	os.Mkdir(dir+"/d", 0o755)
	writeFile(t, dir+"/d/x", "")
	os.Symlink("f", dir+"/l")
	unix.Mkfifo(dir+"/fifo", 0o644)
	unix.Mknod(dir+"/sock", unix.S_IFSOCK|0o644, 0)
	c := serve(t, dir, gofer.Options{})
	r := root(t, c)

	f, _ := walk1(t, r, "f")
	fd, err := f.Open(unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFD(t, fd); got != "data" {
		t.Errorf("read %q", got)
	}
	if _, err := unix.Pwrite(fd, []byte("DA"), 0); err != nil {
		t.Error(err)
	}
	unix.Close(fd)
	if b, _ := os.ReadFile(dir + "/f"); string(b) != "DAta" {
		t.Errorf("after write: %q", b)
	}
	fd, err = f.Open(unix.O_WRONLY | unix.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if st := lstat(t, dir+"/f"); st.Size != 0 {
		t.Errorf("O_TRUNC left size %d", st.Size)
	}
	fd, err = f.Open(unix.O_WRONLY | unix.O_APPEND | unix.O_NONBLOCK | unix.O_CREAT | unix.O_EXCL)
	if err != nil {
		t.Fatal(err)
	}
	if fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); fl&unix.O_ACCMODE != unix.O_WRONLY ||
		fl&unix.O_APPEND == 0 || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("donated fd flags %#x", fl)
	}
	unix.Close(fd)
	_, err = f.Open(unix.O_RDONLY | unix.O_DIRECTORY)
	wantErr(t, "open file O_DIRECTORY", err, unix.ENOTDIR)

	d, _ := walk1(t, r, "d")
	fd, err = d.Open(unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if n, err := unix.Getdents(fd, buf); err != nil || n == 0 {
		t.Errorf("getdents on donated dir fd: %d %v", n, err)
	}
	unix.Close(fd)
	_, err = d.Open(unix.O_RDWR)
	wantErr(t, "open dir rw", err, unix.EISDIR)

	l, st := walk1(t, r, "l")
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("l mode %o", st.Mode)
	}
	_, err = l.Open(unix.O_RDONLY)
	wantErr(t, "open symlink", err, unix.ELOOP)
	fifo, _ := walk1(t, r, "fifo")
	_, err = fifo.Open(unix.O_RDONLY)
	wantErr(t, "open fifo", err, unix.EPERM)
	sock, _ := walk1(t, r, "sock")
	_, err = sock.Open(unix.O_RDONLY)
	wantErr(t, "open socket", err, unix.ENXIO)

	// OpenAt: one round trip.
	f2, st, fd, err := r.OpenAt("f", unix.O_RDONLY)
	if err != nil || fd < 0 || st.Ino != lstat(t, dir+"/f").Ino {
		t.Fatalf("OpenAt: %v %d", err, fd)
	}
	unix.Close(fd)
	f2.Close()
	l2, st, fd, err := r.OpenAt("l", unix.O_RDONLY)
	if err != nil || fd != -1 || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("OpenAt symlink: %v %d %o", err, fd, st.Mode)
	}
	l2.Close()
	_, _, _, err = r.OpenAt("d", unix.O_WRONLY)
	wantErr(t, "OpenAt dir for write", err, unix.EISDIR)
	_, _, _, err = r.OpenAt("none", unix.O_RDONLY)
	wantErr(t, "OpenAt missing", err, unix.ENOENT)
}

func TestCreate(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	c := serve(t, dir, gofer.Options{})
	r := root(t, c)
	old := unix.Umask(0o077)
	defer unix.Umask(old)

	f, fd, st, err := r.Create("new", unix.O_RDWR|unix.O_EXCL, 0o4755, 1234, 5678)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(fd, []byte("abc"))
	unix.Close(fd)
	hs := lstat(t, dir+"/new")
	if hs.Mode != unix.S_IFREG|0o4755 || hs.Uid != 1234 || hs.Gid != 5678 || hs.Size != 3 {
		t.Errorf("created file: mode %o uid %d gid %d size %d", hs.Mode, hs.Uid, hs.Gid, hs.Size)
	}
	if st.Ino != hs.Ino || st.UID != 1234 {
		t.Errorf("Create stat %+v", st)
	}
	if got, _ := f.Stat(); got.Mode != hs.Mode {
		t.Errorf("handle stat mode %o", got.Mode)
	}

	_, _, _, err = r.Create("new", unix.O_RDWR|unix.O_EXCL, 0o644, 0, 0)
	wantErr(t, "O_EXCL on existing", err, unix.EEXIST)
	// Without O_EXCL the existing file is opened, not chowned.
	_, fd, st, err = r.Create("new", unix.O_RDWR|unix.O_TRUNC, 0o600, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if st.UID != 1234 || st.Mode&0o7777 != 0o4755 || st.Size != 0 {
		t.Errorf("reopened existing: %+v", st)
	}
	os.Mkdir(dir+"/d", 0o755)
	os.Symlink("new", dir+"/l")
	_, _, _, err = r.Create("d", unix.O_RDWR, 0o644, 0, 0)
	wantErr(t, "create over dir", err, unix.EISDIR)
	_, _, _, err = r.Create("l", unix.O_RDWR, 0o644, 0, 0)
	wantErr(t, "create over symlink", err, unix.ELOOP)
}

func TestMakeOps(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	writeFile(t, dir+"/f", "x")
	c := serve(t, dir, gofer.Options{})
	r := root(t, c)
	old := unix.Umask(0o077)
	defer unix.Umask(old)

	d, st, err := r.Mkdir("dir", 0o1777, 10, 20)
	if err != nil {
		t.Fatal(err)
	}
	hs := lstat(t, dir+"/dir")
	if hs.Mode != unix.S_IFDIR|0o1777 || hs.Uid != 10 || hs.Gid != 20 || st.Ino != hs.Ino {
		t.Errorf("mkdir: %o %d %d", hs.Mode, hs.Uid, hs.Gid)
	}
	if _, _, err := d.Mkdir("sub", 0o755, 0, 0); err != nil {
		t.Errorf("mkdir in new handle: %v", err)
	}
	_, _, err = r.Mkdir("dir", 0o755, 0, 0)
	wantErr(t, "mkdir existing", err, unix.EEXIST)

	_, st, err = r.Mknod("fifo", unix.S_IFIFO|0o640, 1, 2)
	if err != nil || st.Mode != unix.S_IFIFO|0o640 || st.UID != 1 {
		t.Errorf("mknod fifo: %v %+v", err, st)
	}
	_, st, err = r.Mknod("reg", 0o600, 0, 0)
	if err != nil || st.Mode != unix.S_IFREG|0o600 {
		t.Errorf("mknod reg: %v %o", err, st.Mode)
	}
	_, _, err = r.Mknod("null", unix.S_IFCHR|0o666, 0, 0)
	wantErr(t, "mknod chr", err, unix.EPERM)
	_, _, err = r.Mknod("blk", unix.S_IFBLK|0o666, 0, 0)
	wantErr(t, "mknod blk", err, unix.EPERM)
	if _, err := os.Lstat(dir + "/null"); err == nil {
		t.Error("device node created")
	}

	_, st, err = r.Bind("sock", 0o755, 3, 4)
	if err != nil || st.Mode != unix.S_IFSOCK|0o755 || st.GID != 4 {
		t.Errorf("bind: %v %+v", err, st)
	}

	l, st, err := r.Symlink("link", "../../etc/passwd", 7, 8)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK || st.UID != 7 || st.GID != 8 {
		t.Fatalf("symlink: %v %+v", err, st)
	}
	if tgt, err := l.Readlink(); err != nil || tgt != "../../etc/passwd" {
		t.Errorf("readlink: %q %v", tgt, err)
	}
	if tgt, _ := os.Readlink(dir + "/link"); tgt != "../../etc/passwd" {
		t.Errorf("host readlink %q", tgt)
	}
	f, _ := walk1(t, r, "f")
	_, err = f.Readlink()
	wantErr(t, "readlink regular", err, unix.EINVAL)
	_, _, err = r.Symlink("empty", "", 0, 0)
	wantErr(t, "symlink empty target", err, unix.ENOENT)

	_, st, err = d.Link(f, "hard")
	if err != nil || st.Ino != lstat(t, dir+"/f").Ino || st.Nlink != 2 {
		t.Errorf("link: %v %+v", err, st)
	}
	_, _, err = r.Link(d, "dirlink")
	wantErr(t, "link dir", err, unix.EPERM)
	_, _, err = r.Link(l, "link2")
	if err != nil {
		t.Errorf("link to symlink: %v", err)
	}
}

func TestUnlinkRename(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/a", "A")
	writeFile(t, dir+"/b", "B")
	writeFile(t, dir+"/d/x", "X")
	os.Mkdir(dir+"/e", 0o755)
	c := serve(t, dir, gofer.Options{})
	r := root(t, c)
	d, _ := walk1(t, r, "d")
	e, _ := walk1(t, r, "e")

	wantErr(t, "rename noreplace", r.Rename(r, "a", "b", unix.RENAME_NOREPLACE), unix.EEXIST)
	if err := r.Rename(r, "a", "b", unix.RENAME_EXCHANGE); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dir + "/a"); string(b) != "B" {
		t.Errorf("exchange: a=%q", b)
	}
	if err := r.Rename(e, "a", "moved", 0); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dir + "/e/moved"); string(b) != "B" {
		t.Errorf("moved: %q", b)
	}
	wantErr(t, "rename bad flags", r.Rename(r, "b", "c", unix.RENAME_WHITEOUT), unix.EINVAL)
	wantErr(t, "rename missing", r.Rename(r, "zz", "c", 0), unix.ENOENT)

	wantErr(t, "unlink dir", r.Unlink("d", 0), unix.EISDIR)
	wantErr(t, "rmdir non-empty", r.Unlink("d", unix.AT_REMOVEDIR), unix.ENOTEMPTY)
	wantErr(t, "rmdir file", r.Unlink("b", unix.AT_REMOVEDIR), unix.ENOTDIR)
	wantErr(t, "unlink bad flags", r.Unlink("b", 0x1234), unix.EINVAL)
	if err := d.Unlink("x", 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Unlink("d", unix.AT_REMOVEDIR); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir + "/d"); !os.IsNotExist(err) {
		t.Errorf("d still there: %v", err)
	}
	// The handle of a removed directory still stats (nlink 0).
	if st, err := d.Stat(); err != nil || st.Nlink != 0 {
		t.Errorf("stat removed dir: %+v %v", st, err)
	}
	wantErr(t, "create in removed dir", func() error { _, _, _, err := d.Create("n", unix.O_RDWR, 0o644, 0, 0); return err }(), unix.ENOENT)
}

func TestGetdents(t *testing.T) {
	dir := t.TempDir()
	want := map[string]uint8{}
	for i := 0; i < 1500; i++ {
		name := fmt.Sprintf("%03d-%s", i, strings.Repeat("n", 100))
		writeFile(t, filepath.Join(dir, name), "")
		want[name] = unix.DT_REG
	}
	os.Mkdir(dir+"/sub", 0o755)
	want["sub"] = unix.DT_DIR
	os.Symlink("x", dir+"/sym")
	want["sym"] = unix.DT_LNK
	c := serve(t, dir, gofer.Options{})
	r := root(t, c)

	got := map[string]uint8{}
	var cookie uint64
	pages := 0
	for {
		ents, err := r.Getdents(cookie)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) == 0 {
			break
		}
		pages++
		for _, de := range ents {
			if _, dup := got[de.Name]; dup {
				t.Fatalf("duplicate %q", de.Name)
			}
			if de.Name == "." || de.Name == ".." {
				t.Fatalf("got %q", de.Name)
			}
			got[de.Name] = de.Type
			if de.Ino == 0 {
				t.Errorf("%q: ino 0", de.Name)
			}
		}
		cookie = ents[len(ents)-1].Next
	}
	if pages < 2 {
		t.Errorf("expected several pages, got %d", pages)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for n, ty := range want {
		if got[n] != ty {
			t.Errorf("%q: type %d want %d", n, got[n], ty)
		}
	}
	// Cookie 0 rewinds and sees changes made since.
	writeFile(t, dir+"/zz-new", "")
	found := false
	for cookie := uint64(0); ; {
		ents, err := r.Getdents(cookie)
		if err != nil || len(ents) == 0 {
			break
		}
		for _, de := range ents {
			found = found || de.Name == "zz-new"
		}
		cookie = ents[len(ents)-1].Next
	}
	if !found {
		t.Error("new entry not listed after rewind")
	}
	f, _ := walk1(t, r, "sym")
	_, err := f.Getdents(0)
	wantErr(t, "getdents symlink", err, unix.ENOTDIR)
}

func TestSetattr(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	writeFile(t, dir+"/f", "0123456789")
	os.Symlink("f", dir+"/l")
	c := serve(t, dir, gofer.Options{})
	r := root(t, c)
	f, _ := walk1(t, r, "f")

	st, err := f.Setattr(client.SetattrRequest{
		Mask: client.SetattrUID | client.SetattrGID | client.SetattrMode | client.SetattrSize,
		UID:  42, GID: 43, Mode: 0o6711, Size: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := lstat(t, dir+"/f")
	if hs.Uid != 42 || hs.Gid != 43 || hs.Mode != unix.S_IFREG|0o6711 || hs.Size != 3 {
		t.Errorf("host after setattr: %+v", hs)
	}
	if st.UID != 42 || st.Size != 3 || st.Mode != hs.Mode {
		t.Errorf("reply stat %+v", st)
	}
	st, err = f.Setattr(client.SetattrRequest{
		Mask:  client.SetattrAtime | client.SetattrMtime,
		Atime: client.Timespec{Sec: 1000, Nsec: 5}, Mtime: client.Timespec{Sec: 2000, Nsec: 7},
	})
	if err != nil || st.Atime != 1000e9+5 || st.Mtime != 2000e9+7 {
		t.Errorf("times: %v %d %d", err, st.Atime, st.Mtime)
	}
	st, err = f.Setattr(client.SetattrRequest{
		Mask:  client.SetattrAtime | client.SetattrMtime,
		Atime: client.Timespec{Nsec: unix.UTIME_NOW}, Mtime: client.Timespec{Nsec: unix.UTIME_OMIT},
	})
	if err != nil || st.Atime < 2000e9 || st.Mtime != 2000e9+7 {
		t.Errorf("UTIME_NOW/OMIT: %v %d %d", err, st.Atime, st.Mtime)
	}
	// Only mtime selected: atime untouched.
	at := st.Atime
	st, err = f.Setattr(client.SetattrRequest{Mask: client.SetattrMtime, Mtime: client.Timespec{Sec: 5}})
	if err != nil || st.Atime != at || st.Mtime != 5e9 {
		t.Errorf("mtime only: %v %d %d", err, st.Atime, st.Mtime)
	}

	l, _ := walk1(t, r, "l")
	_, err = l.Setattr(client.SetattrRequest{Mask: client.SetattrMode, Mode: 0o600})
	wantErr(t, "chmod symlink", err, unix.EOPNOTSUPP)
	_, err = l.Setattr(client.SetattrRequest{Mask: client.SetattrSize})
	wantErr(t, "truncate symlink", err, unix.EINVAL)
	st, err = l.Setattr(client.SetattrRequest{Mask: client.SetattrUID, UID: 99})
	if err != nil || st.UID != 99 || lstat(t, dir+"/f").Uid != 42 {
		t.Errorf("chown symlink must change the link only: %v %+v", err, st)
	}
	_, err = r.Setattr(client.SetattrRequest{Mask: client.SetattrSize})
	wantErr(t, "truncate dir", err, unix.EISDIR)
}

func TestStatfsAndClose(t *testing.T) {
	dir := t.TempDir()
	c := serve(t, dir, gofer.Options{})
	r := root(t, c)
	sf, err := r.Statfs()
	if err != nil {
		t.Fatal(err)
	}
	var hs unix.Statfs_t
	unix.Statfs(dir, &hs)
	if sf.Type != uint64(hs.Type) || sf.Bsize != uint64(hs.Bsize) || sf.Namelen != uint64(hs.Namelen) || sf.Blocks != hs.Blocks {
		t.Errorf("statfs %+v vs %+v", sf, hs)
	}
	f, _, _ := c.Root()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "double close", f.Close(), unix.EBADF)
	_, err = f.Stat()
	wantErr(t, "stat closed", err, unix.EBADF)
	if _, err := r.Stat(); err != nil {
		t.Errorf("other handle broken: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 16; i++ {
		writeFile(t, fmt.Sprintf("%s/d%d/f", dir, i), fmt.Sprint(i))
	}
	c := serve(t, dir, gofer.Options{})
	r := root(t, c)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := g % 16
			for k := 0; k < 50; k++ {
				fs, _, err := r.Walk(fmt.Sprintf("d%d", i), "f")
				if err != nil {
					errs <- err
					return
				}
				fd, err := fs[1].Open(unix.O_RDONLY)
				if err != nil {
					errs <- err
					return
				}
				buf := make([]byte, 8)
				n, _ := unix.Pread(fd, buf, 0)
				unix.Close(fd)
				if string(buf[:n]) != fmt.Sprint(i) {
					errs <- fmt.Errorf("goroutine %d read %q", g, buf[:n])
					return
				}
				name := fmt.Sprintf("g%d-%d", g, k)
				nf, cfd, _, err := fs[0].Create(name, unix.O_RDWR|unix.O_EXCL, 0o644, 0, 0)
				if err != nil {
					errs <- err
					return
				}
				unix.Close(cfd)
				if err := fs[0].Unlink(name, 0); err != nil {
					errs <- err
					return
				}
				c.CloseFiles(append(fs, nf)...)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestReadOnly checks that a read-only gofer refuses every mutation.
func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/f", "ro")
	os.Symlink("f", dir+"/l")
	c := serve(t, dir, gofer.Options{ReadOnly: true})
	r := root(t, c)
	f, _ := walk1(t, r, "f")
	l, _ := walk1(t, r, "l")

	fd, err := f.Open(unix.O_RDONLY)
	if err != nil || readFD(t, fd) != "ro" {
		t.Fatalf("read-only open: %v", err)
	}
	unix.Close(fd)
	for _, fl := range []int{unix.O_WRONLY, unix.O_RDWR, unix.O_RDONLY | unix.O_TRUNC} {
		_, err := f.Open(fl)
		wantErr(t, fmt.Sprintf("open %#x", fl), err, unix.EROFS)
		_, _, _, err = r.OpenAt("f", fl)
		wantErr(t, fmt.Sprintf("openat %#x", fl), err, unix.EROFS)
	}
	_, _, _, err = r.Create("n", unix.O_RDWR, 0o644, 0, 0)
	wantErr(t, "create", err, unix.EROFS)
	_, _, _, err = r.Create("n", unix.O_RDONLY, 0o644, 0, 0)
	wantErr(t, "create read-only", err, unix.EROFS)
	// As on a read-only mount, O_CREAT|O_RDONLY opens an existing file.
	if _, fd, _, err := r.Create("f", unix.O_RDONLY, 0o644, 0, 0); err != nil {
		t.Errorf("create existing read-only: %v", err)
	} else {
		unix.Close(fd)
	}
	_, _, err = r.Mkdir("n", 0o755, 0, 0)
	wantErr(t, "mkdir", err, unix.EROFS)
	_, _, err = r.Mknod("n", unix.S_IFIFO|0o644, 0, 0)
	wantErr(t, "mknod", err, unix.EROFS)
	_, _, err = r.Bind("n", 0o755, 0, 0)
	wantErr(t, "bind", err, unix.EROFS)
	_, _, err = r.Symlink("n", "x", 0, 0)
	wantErr(t, "symlink", err, unix.EROFS)
	_, _, err = r.Link(f, "n")
	wantErr(t, "link", err, unix.EROFS)
	wantErr(t, "unlink", r.Unlink("f", 0), unix.EROFS)
	wantErr(t, "rename", r.Rename(r, "f", "g", 0), unix.EROFS)
	_, err = f.Setattr(client.SetattrRequest{Mask: client.SetattrMode, Mode: 0o777})
	wantErr(t, "setattr", err, unix.EROFS)
	// Reads still work.
	if tgt, err := l.Readlink(); err != nil || tgt != "f" {
		t.Errorf("readlink: %v", err)
	}
	ents, err := r.Getdents(0)
	names := []string{}
	for _, e := range ents {
		names = append(names, e.Name)
	}
	sort.Strings(names)
	if err != nil || strings.Join(names, ",") != "f,l" {
		t.Errorf("getdents: %v %v", names, err)
	}
	if _, err := r.Statfs(); err != nil {
		t.Error(err)
	}
	if b, _ := os.ReadFile(dir + "/f"); string(b) != "ro" {
		t.Errorf("file changed: %q", b)
	}
}
