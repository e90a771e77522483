package gofer_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/runsc-cri/runsc-cri/gofer"
	"github.com/runsc-cri/runsc-cri/gofer/client"
	"golang.org/x/sys/unix"
)

// escapeTree builds tmp/root (served) and tmp/outside/secret (must never be
// reached), with symlinks in the root pointing out of it every way we could
// think of. It returns root and the secret's path.
//
// Safety of the test itself: the links in hostLinks point at real host files
// and are only ever used with read-only operations (walk, stat, open
// O_RDONLY, getdents, readlink); every mutating operation targets only the
// links in tmpLinks, which resolve into the test's temporary directory, so
// even a gofer that wrongly followed symlinks could not damage the host.
func escapeTree(t *testing.T) (string, string) {
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	secret := filepath.Join(tmp, "outside", "secret")
	writeFile(t, secret, "SECRET")
	writeFile(t, root+"/inside", "inside")
	links := map[string]string{
		// Read-only probes at real host files.
		"shadow":     "/etc/shadow",
		"deepshadow": "../../../../../../../../etc/shadow",
		"procroot":   "/proc/self/root",
		"procfd":     "/proc/self/fd/0",
		"procshadow": "/proc/self/root/etc/shadow",
		"etc":        "/etc",
		"loop":       "loop",
		// Links that resolve into tmp.
		"abs":        secret,
		"rel":        "../outside/secret",
		"deeprel":    "../../../../../../../../../../.." + secret,
		"procsecret": "/proc/self/root" + secret,
		"outdir":     "../outside",
		"dot":        ".",
		"dotdot":     "..",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	// A real directory whose entries are symlinks too.
	os.MkdirAll(root+"/sub", 0o755)
	os.Symlink("../../outside/secret", root+"/sub/link")
	return root, secret
}

var (
	hostLinks = []string{"shadow", "deepshadow", "procroot", "procfd", "procshadow", "etc", "loop"}
	tmpLinks  = []string{"abs", "rel", "deeprel", "procsecret", "outdir", "dot", "dotdot", "sub/link"}
)

// linkFile walks to one of the links of escapeTree and checks that the walk
// did not follow it.
func linkFile(t *testing.T, r *client.File, name string) (dir *client.File, base string, f *client.File) {
	t.Helper()
	dir, base = r, name
	if i := strings.IndexByte(name, '/'); i >= 0 {
		dir, _ = walk1(t, r, name[:i])
		base = name[i+1:]
	}
	f, st := walk1(t, dir, base)
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Fatalf("%s: walk followed the symlink (mode %o)", name, st.Mode)
	}
	return dir, base, f
}

func TestEscapeSymlinks(t *testing.T) {
	rootDir, secret := escapeTree(t)
	secretSt := lstat(t, secret)
	c := serve(t, rootDir, gofer.Options{})
	r := root(t, c)

	// Read-only probes, every link.
	for _, name := range append(hostLinks, tmpLinks...) {
		dir, base, f := linkFile(t, r, name)
		_, err := f.Open(unix.O_RDONLY)
		wantErr(t, name+": open", err, unix.ELOOP)
		_, _, fd, err := dir.OpenAt(base, unix.O_RDONLY)
		if err != nil || fd != -1 {
			t.Errorf("%s: OpenAt gave fd %d err %v", name, fd, err)
		}
		_, _, err = dir.Walk(base, "secret")
		wantErr(t, name+": walk through", err, unix.ENOTDIR)
		_, _, err = dir.Walk(base, "shadow")
		wantErr(t, name+": walk through", err, unix.ENOTDIR)
		_, err = f.Getdents(0)
		wantErr(t, name+": getdents", err, unix.ENOTDIR)
		f.Close()
	}

	// Mutations, only through links that resolve into tmp.
	for _, name := range tmpLinks {
		dir, base, f := linkFile(t, r, name)
		_, _, _, err := dir.Create(base, unix.O_RDWR, 0o644, 0, 0)
		wantErr(t, name+": create over", err, unix.ELOOP)
		_, _, _, err = dir.Create(base, unix.O_RDWR|unix.O_TRUNC|unix.O_EXCL, 0o644, 0, 0)
		wantErr(t, name+": create excl over", err, unix.EEXIST)
		_, _, err = dir.Mkdir(base, 0o755, 0, 0)
		wantErr(t, name+": mkdir over", err, unix.EEXIST)
		_, _, err = f.Mkdir("x", 0o755, 0, 0)
		wantErr(t, name+": mkdir in", err, unix.ENOTDIR)
		_, _, _, err = f.Create("x", unix.O_RDWR, 0o644, 0, 0)
		wantErr(t, name+": create in", err, unix.ENOTDIR)
		_, err = f.Setattr(client.SetattrRequest{Mask: client.SetattrSize, Size: 0})
		wantErr(t, name+": truncate", err, unix.EINVAL)
		_, err = f.Setattr(client.SetattrRequest{Mask: client.SetattrMode, Mode: 0o777})
		wantErr(t, name+": chmod", err, unix.EOPNOTSUPP)
		// chown/utimes change the link itself.
		if _, err := f.Setattr(client.SetattrRequest{
			Mask: client.SetattrUID | client.SetattrGID | client.SetattrMtime,
			UID:  uint32(os.Getuid()), GID: uint32(os.Getgid()) + 1, Mtime: client.Timespec{Sec: 1},
		}); err != nil && err != unix.EPERM {
			t.Errorf("%s: chown link: %v", name, err)
		}
		// A hard link to the link is a second link, not the target.
		hl, hst, err := r.Link(f, "hl-"+strings.ReplaceAll(name, "/", "_"))
		if err != nil || hst.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Errorf("%s: link: %v %o", name, err, hst.Mode)
		} else {
			hl.Close()
		}
		f.Close()
	}
	after := lstat(t, secret)
	if after.Uid != secretSt.Uid || after.Gid != secretSt.Gid || after.Mode != secretSt.Mode ||
		after.Mtim != secretSt.Mtim || after.Nlink != 1 || after.Size != secretSt.Size {
		t.Errorf("secret changed: %+v", after)
	}
	if ents, _ := os.ReadDir(filepath.Dir(secret)); len(ents) != 1 {
		t.Errorf("outside dir gained entries: %v", ents)
	}
}

func TestEscapeNames(t *testing.T) {
	rootDir, secret := escapeTree(t)
	c := serve(t, rootDir, gofer.Options{})
	r := root(t, c)
	bad := map[string][]unix.Errno{
		"":                       {unix.ENOENT},
		".":                      {unix.EINVAL},
		"..":                     {unix.EINVAL},
		"../outside":             {unix.EINVAL},
		"../outside/secret":      {unix.EINVAL},
		secret:                   {unix.EINVAL},
		"sub/link":               {unix.EINVAL},
		"a\x00b":                 {unix.EINVAL},
		"inside\x00":             {unix.EINVAL},
		strings.Repeat("x", 256): {unix.ENAMETOOLONG},
	}
	for name, want := range bad {
		_, _, err := r.Walk(name)
		wantErr(t, "walk "+strconv.Quote(name), err, want...)
		_, _, err = r.Walk("sub", name)
		wantErr(t, "walk sub/"+strconv.Quote(name), err, want...)
		_, _, _, err = r.OpenAt(name, unix.O_RDONLY)
		wantErr(t, "openat "+strconv.Quote(name), err, want...)
		_, _, _, err = r.Create(name, unix.O_RDWR, 0o644, 0, 0)
		wantErr(t, "create "+strconv.Quote(name), err, want...)
		_, _, err = r.Mkdir(name, 0o755, 0, 0)
		wantErr(t, "mkdir "+strconv.Quote(name), err, want...)
		_, _, err = r.Mknod(name, unix.S_IFIFO|0o644, 0, 0)
		wantErr(t, "mknod "+strconv.Quote(name), err, want...)
		_, _, err = r.Symlink(name, "x", 0, 0)
		wantErr(t, "symlink "+strconv.Quote(name), err, want...)
		inside, _ := walk1(t, r, "inside")
		_, _, err = r.Link(inside, name)
		wantErr(t, "link "+strconv.Quote(name), err, want...)
		wantErr(t, "unlink "+strconv.Quote(name), r.Unlink(name, 0), want...)
		wantErr(t, "rmdir "+strconv.Quote(name), r.Unlink(name, unix.AT_REMOVEDIR), want...)
		wantErr(t, "rename from "+strconv.Quote(name), r.Rename(r, name, "new", 0), want...)
		wantErr(t, "rename to "+strconv.Quote(name), r.Rename(r, "inside", name, 0), want...)
	}
	if _, err := os.Lstat(rootDir + "/inside"); err != nil {
		t.Errorf("inside was moved: %v", err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "SECRET" {
		t.Errorf("secret changed")
	}
	ents, _ := os.ReadDir(filepath.Dir(secret))
	if len(ents) != 1 {
		t.Errorf("outside dir gained entries: %v", ents)
	}

	// Attach takes a path but still resolves beneath the root without
	// symlinks or "..".
	for p, want := range map[string][]unix.Errno{
		"..":              {unix.EINVAL},
		"../outside":      {unix.EINVAL},
		"sub/../..":       {unix.EINVAL},
		"/../outside":     {unix.EINVAL},
		"etc":             {unix.ELOOP},
		"etc/shadow":      {unix.ELOOP},
		"outdir/secret":   {unix.ELOOP},
		"procroot/etc":    {unix.ELOOP},
		"sub/link":        {unix.ELOOP},
		"sub/./link":      {unix.EINVAL},
		"inside/x":        {unix.ENOTDIR},
		"nonexistent/dir": {unix.ENOENT},
		"a\x00":           {unix.EINVAL},
	} {
		_, _, err := c.Attach(p)
		wantErr(t, "attach "+strconv.Quote(p), err, want...)
	}
}

// TestHardNames checks that odd but valid names round-trip.
func TestHardNames(t *testing.T) {
	dir := t.TempDir()
	c := serve(t, dir, gofer.Options{})
	r := root(t, c)
	names := []string{"\n", " ", "...", "-rf", "\xff\xfe", strings.Repeat("a", 255), "*", "with space", "\\", "a:b", "\t\r", "é"}
	for _, n := range names {
		f, fd, _, err := r.Create(n, unix.O_RDWR|unix.O_EXCL, 0o644, uint32(os.Getuid()), uint32(os.Getgid()))
		if err != nil {
			t.Errorf("create %q: %v", n, err)
			continue
		}
		unix.Close(fd)
		f.Close()
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("host lstat %q: %v", n, err)
		}
		if _, _, err := r.Walk(n); err != nil {
			t.Errorf("walk %q: %v", n, err)
		}
	}
	ents, err := r.Getdents(0)
	if err != nil || len(ents) != len(names) {
		t.Errorf("getdents: %d %v", len(ents), err)
	}
}

// TestDonatedFDsInside checks that every descriptor the gofer donates is a
// file below the root, also after the host path was swapped for a symlink
// behind a handle's back.
func TestDonatedFDsInside(t *testing.T) {
	rootDir, secret := escapeTree(t)
	c := serve(t, rootDir, gofer.Options{})
	r := root(t, c)
	f, st := walk1(t, r, "inside")

	// Swap "inside" for a symlink to the secret; the handle still names
	// the original file.
	if err := os.Rename(rootDir+"/inside", rootDir+"/inside.old"); err != nil {
		t.Fatal(err)
	}
	os.Symlink(secret, rootDir+"/inside")
	fd, err := f.Open(unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	checkInside(t, fd, rootDir, secret)
	if got := readFD(t, fd); got != "inside" {
		t.Errorf("read %q", got)
	}
	if fst := fstat(t, fd); fst.Ino != st.Ino {
		t.Errorf("donated fd ino %d, handle %d", fst.Ino, st.Ino)
	}
	unix.Close(fd)

	_, _, fd, _ = r.OpenAt("inside.old", unix.O_RDONLY)
	checkInside(t, fd, rootDir, secret)
	unix.Close(fd)
	_, fd, _, _ = r.Create("created", unix.O_RDWR, 0o644, 0, 0)
	checkInside(t, fd, rootDir, secret)
	unix.Close(fd)
	fd, _ = r.Open(unix.O_RDONLY)
	checkInside(t, fd, rootDir, secret)
	unix.Close(fd)
}

func checkInside(t *testing.T, fd int, rootDir, secret string) {
	t.Helper()
	if fd < 0 {
		t.Fatal("no fd")
	}
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		t.Fatal(err)
	}
	if p != rootDir && !strings.HasPrefix(p, rootDir+"/") {
		t.Errorf("donated fd is %s, outside %s", p, rootDir)
	}
	st, sst := fstat(t, fd), lstat(t, secret)
	if st.Ino == sst.Ino && st.Dev == sst.Dev {
		t.Errorf("donated fd is the secret")
	}
	fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("donated fd not close-on-exec")
	}
}
