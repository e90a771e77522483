package integration

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// mount(2), umount2(2), pivot_root(2) and unshare(CLONE_NEWNS) in the
// sandbox, compared with the same programs run natively. The native side
// runs in the busybox rootfs inside a private mount namespace (the
// harness's `unshare --mount`, whose propagation is private), and every
// program first mounts a tmpfs on /tmp and works only below it: nothing
// is mounted on, or written to, a host path.
//
// The sandbox's root must hold CAP_SYS_ADMIN, as in a privileged
// container: the privileged cases run `do --privileged` (and skip, with
// the reason, if the binary under test does not give it).

func init() {
	cSources["mountops"] = mountErrno + mountOpsC
	cSources["mountpivot"] = mountErrno + mountPivotC
	cSources["mountperm"] = mountErrno + mountPermC
}

// mountErrno names the errno values the programs print.
const mountErrno = `
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
static const char *errname(int e) {
	switch (e) {
	case 0: return "OK";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case ELOOP: return "ELOOP";
	case ENODEV: return "ENODEV";
	case ENOTEMPTY: return "ENOTEMPTY";
	default: return "OTHER";
	}
}
#define T(what, expr) do { errno = 0; long r_ = (long)(expr); \
	printf("%s: %s\n", what, r_ < 0 ? errname(errno) : "OK"); } while (0)
static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }
/* ls prints the sorted names in dir. */
static void ls(const char *dir) {
	DIR *d = opendir(dir);
	if (!d) { printf("ls %s: %s\n", dir, errname(errno)); return; }
	char *names[256]; int n = 0; struct dirent *e;
	while ((e = readdir(d)) && n < 256)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof names[0], cmp);
	printf("ls %s:", dir);
	for (int i = 0; i < n; i++) printf(" %s", names[i]);
	printf("\n");
}
static void put(const char *path, const char *s) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) { printf("create %s: %s\n", path, errname(errno)); return; }
	if (write(fd, s, strlen(s)) < 0) printf("write %s: %s\n", path, errname(errno));
	close(fd);
}
static void cat(const char *path) {
	char buf[256] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0) { printf("cat %s: %s\n", path, errname(errno)); return; }
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	printf("cat %s: %s\n", path, n < 0 ? errname(errno) : buf);
}
/* mountinfo prints, sorted, "root target options fstype" of the mounts at
 * or below prefix, and the filesystem options of the one at full. */
static void mountinfo(const char *prefix, const char *full) {
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f) { printf("mountinfo: %s\n", errname(errno)); return; }
	char line[1024], *out[256]; int n = 0;
	while (fgets(line, sizeof line, f) && n < 256) {
		char *fld[32]; int k = 0;
		for (char *s = strtok(line, " \n"); s && k < 32; s = strtok(NULL, " \n")) fld[k++] = s;
		int dash = 6;
		while (dash < k && strcmp(fld[dash], "-")) dash++;
		if (k < 10 || dash + 3 >= k + 1 || strncmp(fld[4], prefix, strlen(prefix))) continue;
		char buf[600];
		snprintf(buf, sizeof buf, "%s %s %s %s%s%s", fld[3], fld[4], fld[5], fld[dash + 1],
			full && !strcmp(fld[4], full) ? " " : "", full && !strcmp(fld[4], full) ? fld[dash + 3] : "");
		char *p = strstr(buf, ",inode64");
		if (p) memmove(p, p + 8, strlen(p + 8) + 1);
		out[n++] = strdup(buf);
	}
	fclose(f);
	qsort(out, n, sizeof out[0], cmp);
	for (int i = 0; i < n; i++) printf("mountinfo: %s\n", out[i]);
}
`

// mountOpsC exercises mount(2) and umount2(2).
const mountOpsC = `
int main(void) {
	T("tmpfs on /tmp", mount("tmpfs", "/tmp", "tmpfs", 0, "size=4m"));
	mkdir("/tmp/src", 0755); mkdir("/tmp/src/sub", 0755); mkdir("/tmp/dst", 0755);
	mkdir("/tmp/nr", 0755); mkdir("/tmp/r", 0755);
	put("/tmp/src/a", "a"); put("/tmp/file", "file"); put("/tmp/file2", "file2");

	/* Bind mounts. */
	T("bind", mount("/tmp/src", "/tmp/dst", NULL, MS_BIND, NULL));
	ls("/tmp/dst");
	put("/tmp/dst/b", "through the bind");
	cat("/tmp/src/b");
	T("bind file", mount("/tmp/file", "/tmp/file2", NULL, MS_BIND, NULL));
	cat("/tmp/file2");
	T("bind dir on file", mount("/tmp/src", "/tmp/file", NULL, MS_BIND, NULL));
	T("bind file on dir", mount("/tmp/file", "/tmp/nr", NULL, MS_BIND, NULL));
	T("bind missing source", mount("/tmp/nosuch", "/tmp/nr", NULL, MS_BIND, NULL));
	T("bind missing target", mount("/tmp/src", "/tmp/nosuch", NULL, MS_BIND, NULL));
	T("bind empty source", mount("", "/tmp/nr", NULL, MS_BIND, NULL));
	T("bind into itself", mount("/tmp/src", "/tmp/src/sub", NULL, MS_BIND, NULL));
	ls("/tmp/src/sub");
	ls("/tmp/src/sub/sub");
	T("umount it", umount2("/tmp/src/sub", 0));

	/* Recursive binds copy submounts. */
	T("tmpfs on sub", mount("none", "/tmp/src/sub", "tmpfs", 0, NULL));
	put("/tmp/src/sub/inner", "inner");
	T("bind", mount("/tmp/src", "/tmp/nr", NULL, MS_BIND, NULL));
	T("rbind", mount("/tmp/src", "/tmp/r", NULL, MS_BIND | MS_REC, NULL));
	ls("/tmp/nr/sub");
	ls("/tmp/r/sub");
	mountinfo("/tmp", NULL);

	/* Read-only through one mount only. */
	T("remount bind ro", mount(NULL, "/tmp/dst", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
	T("create through ro", open("/tmp/dst/c", O_WRONLY | O_CREAT, 0644));
	T("mkdir through ro", mkdir("/tmp/dst/d", 0755));
	put("/tmp/src/c", "rw here");
	cat("/tmp/dst/c");
	struct statvfs sv;
	T("statvfs", statvfs("/tmp/dst", &sv));
	printf("ro flag: %d\n", (int)(sv.f_flag & ST_RDONLY));
	T("remount of a non-root", mount(NULL, "/tmp/dst/sub", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
	T("remount nosuid,noexec", mount(NULL, "/tmp/nr", NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC, NULL));
	mountinfo("/tmp/dst", NULL);
	mountinfo("/tmp/nr", NULL);
	T("remount rw", mount(NULL, "/tmp/dst", NULL, MS_REMOUNT | MS_BIND, NULL));
	put("/tmp/dst/e", "e");
	cat("/tmp/src/e");

	/* tmpfs options. */
	mkdir("/tmp/sz", 0755);
	T("tmpfs size=1m", mount("tmpfs", "/tmp/sz", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=700"));
	struct statfs sf;
	T("statfs", statfs("/tmp/sz", &sf));
	printf("size: %ld\n", (long)(sf.f_blocks * sf.f_bsize));
	struct stat st;
	T("stat", stat("/tmp/sz", &st));
	printf("mode: %o\n", st.st_mode & 07777);
	mountinfo("/tmp/sz", "/tmp/sz");

	/* Busy and lazy unmounts. */
	T("chdir in", chdir("/tmp/sz"));
	T("umount with cwd inside", umount2("/tmp/sz", 0));
	T("chdir out", chdir("/"));
	int fd = open("/tmp/sz/kept", O_RDWR | O_CREAT, 0644);
	T("write", write(fd, "kept", 4));
	T("umount with open file", umount2("/tmp/sz", 0));
	T("umount -l", umount2("/tmp/sz", MNT_DETACH));
	char buf[8] = {0};
	T("pread after umount -l", pread(fd, buf, 4, 0));
	printf("read: %s\n", buf);
	close(fd);
	T("stat after umount -l", stat("/tmp/sz/kept", &st));
	T("umount not a mount point", umount2("/tmp/src", 0));
	T("umount missing", umount2("/tmp/nosuch", 0));
	T("umount bad flags", umount2("/tmp/dst", 0x100));
	T("umount with a submount", umount2("/tmp/r", 0));
	T("umount -l with a submount", umount2("/tmp/r", MNT_DETACH));
	ls("/tmp/r");
	T("umount /", umount2("/", 0));

	/* MNT_EXPIRE. */
	T("expire|detach", umount2("/tmp/nr", MNT_EXPIRE | MNT_DETACH));
	T("expire 1", umount2("/tmp/nr", MNT_EXPIRE));
	T("expire 2", umount2("/tmp/nr", MNT_EXPIRE));
	T("expire 3", umount2("/tmp/nr", MNT_EXPIRE));

	/* Stacking. */
	mkdir("/tmp/st", 0755);
	T("stack 1", mount("one", "/tmp/st", "tmpfs", 0, NULL));
	put("/tmp/st/f", "one");
	T("stack 2", mount("two", "/tmp/st", "tmpfs", 0, NULL));
	put("/tmp/st/f", "two");
	cat("/tmp/st/f");
	T("umount top", umount2("/tmp/st", 0));
	cat("/tmp/st/f");
	T("umount bottom", umount2("/tmp/st", 0));
	cat("/tmp/st/f");

	/* MS_MOVE. */
	mkdir("/tmp/m1", 0755); mkdir("/tmp/m2", 0755);
	T("tmpfs m1", mount("m", "/tmp/m1", "tmpfs", 0, NULL));
	mkdir("/tmp/m1/in", 0755);
	put("/tmp/m1/f", "moved");
	T("move into itself", mount("/tmp/m1", "/tmp/m1/in", NULL, MS_MOVE, NULL));
	T("move a non-mount", mount("/tmp/src", "/tmp/m2", NULL, MS_MOVE, NULL));
	T("move", mount("/tmp/m1", "/tmp/m2", NULL, MS_MOVE, NULL));
	cat("/tmp/m2/f");
	cat("/tmp/m1/f");

	/* Propagation types. */
	T("rprivate /", mount(NULL, "/", NULL, MS_PRIVATE | MS_REC, NULL));
	T("private+rdonly", mount(NULL, "/tmp/m2", NULL, MS_PRIVATE | MS_RDONLY, NULL));
	T("private+shared", mount(NULL, "/tmp/m2", NULL, MS_PRIVATE | MS_SHARED, NULL));
	T("shared non-root", mount(NULL, "/tmp/m2/in", NULL, MS_SHARED, NULL));
	T("slave", mount(NULL, "/tmp/m2", NULL, MS_SLAVE, NULL));
	T("unbindable", mount(NULL, "/tmp/m2", NULL, MS_UNBINDABLE, NULL));
	T("bind of unbindable", mount("/tmp/m2", "/tmp/m1", NULL, MS_BIND, NULL));
	T("private again", mount(NULL, "/tmp/m2", NULL, MS_PRIVATE, NULL));

	/* Types. */
	T("unknown type", mount("x", "/tmp/m1", "nosuchfs", 0, NULL));
	T("no type", mount("x", "/tmp/m1", NULL, 0, NULL));
	T("tmpfs bad size", mount("x", "/tmp/m1", "tmpfs", 0, "size=lots"));
	T("proc", mount("proc", "/tmp/m1", "proc", 0, NULL));
	int pfd = open("/tmp/m1/self/mountinfo", O_RDONLY);
	T("proc self", pfd);
	close(pfd);
	T("umount proc", umount2("/tmp/m1", 0));
	mountinfo("/tmp", NULL);
	return 0;
}
`

// mountPivotC: pivot_root into a tmpfs, and the container tools' way
// (pivot_root(".", ".") then umount2(".", MNT_DETACH)), each in a child
// that first unshares its mount namespace.
const mountPivotC = `
static void pivot_child(int dot) {
	T("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
	T("rprivate", mount(NULL, "/", NULL, MS_PRIVATE | MS_REC, NULL));
	mkdir("/tmp/new", 0755);
	T("pivot to a non-mount", syscall(SYS_pivot_root, "/tmp/new", "/tmp/new"));
	T("tmpfs new root", mount("newroot", "/tmp/new", "tmpfs", 0, NULL));
	mkdir("/tmp/new/old", 0755);
	put("/tmp/new/hello", "hello from the new root");
	T("put_old outside new_root", syscall(SYS_pivot_root, "/tmp/new", "/tmp"));
	T("new_root is /", syscall(SYS_pivot_root, "/", "/tmp/new/old"));
	T("put_old a file", syscall(SYS_pivot_root, "/tmp/new", "/tmp/new/hello"));
	if (dot) {
		T("chdir", chdir("/tmp/new"));
		T("pivot_root . .", syscall(SYS_pivot_root, ".", "."));
		T("umount2 . detach", umount2(".", MNT_DETACH));
		T("chdir /", chdir("/"));
	} else {
		T("pivot_root", syscall(SYS_pivot_root, "/tmp/new", "/tmp/new/old"));
		T("chdir /", chdir("/"));
		ls("/old/etc");
		T("umount -l /old", umount2("/old", MNT_DETACH));
		ls("/old");
	}
	ls("/");
	cat("/hello");
	char cwd[256];
	printf("cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	/* Not umount2("/", 0): Linux remounts the root read-only then,
	 * which the sandbox does not do (EBUSY). */
	T("umount -l / (the namespace's root)", umount2("/", MNT_DETACH));
	cat("/hello");
	mountinfo("/", NULL);
	T("mount in the detached tree", mount("x", "/old", "tmpfs", 0, NULL));
}
int main(void) {
	T("tmpfs on /tmp", mount("tmpfs", "/tmp", "tmpfs", 0, NULL));
	for (int dot = 0; dot < 2; dot++) {
		fflush(stdout);
		pid_t p = fork();
		if (p == 0) { pivot_child(dot); fflush(stdout); _exit(0); }
		int status;
		waitpid(p, &status, 0);
		printf("child exit %d\n", WEXITSTATUS(status));
	}
	/* The parent's tree is untouched by the children's. */
	ls("/tmp");
	mountinfo("/tmp", NULL);
	return 0;
}
`

// mountPermC runs as an unprivileged user: everything is EPERM.
const mountPermC = `
int main(void) {
	T("mount tmpfs", mount("tmpfs", "/tmp", "tmpfs", 0, NULL));
	T("bind", mount("/etc", "/tmp", NULL, MS_BIND, NULL));
	T("remount", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
	T("private", mount(NULL, "/", NULL, MS_PRIVATE, NULL));
	T("mount missing target", mount("tmpfs", "/nosuch", "tmpfs", 0, NULL));
	T("umount /proc", umount2("/proc", 0));
	T("umount -l /", umount2("/", MNT_DETACH));
	T("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
	T("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
	return 0;
}
`

// privileged is the `do` flag giving the sandbox's root every capability.
var privileged = []string{"--privileged"}

var sandboxCaps struct {
	once   sync.Once
	admin  bool
	reason string
}

// requireSysAdmin skips t unless the sandbox's root has CAP_SYS_ADMIN.
func requireSysAdmin(t *testing.T) {
	t.Helper()
	requireSandbox(t, false)
	sandboxCaps.once.Do(func() {
		r := runSandbox(t, sandboxOpts{rootfs: env.rootfs, extra: privileged, timeout: 30 * time.Second}, "/bin/grep", "CapEff", "/proc/self/status")
		f := strings.Fields(string(r.stdout))
		if len(f) != 2 {
			sandboxCaps.reason = "cannot read CapEff in the sandbox: " + r.describe()
			return
		}
		caps, err := strconv.ParseUint(f[1], 16, 64)
		if err != nil {
			sandboxCaps.reason = "bad CapEff " + f[1]
			return
		}
		sandboxCaps.admin = caps&(1<<21) != 0
		sandboxCaps.reason = "the sandbox's root lacks CAP_SYS_ADMIN (CapEff " + f[1] +
			") under `do --privileged`"
	})
	if !sandboxCaps.admin {
		t.Skip(sandboxCaps.reason)
	}
}

// runMountCase runs argv natively and in the sandbox and compares.
func runMountCase(t *testing.T, o sandboxOpts, argv ...string) {
	t.Helper()
	o.rootfs = env.rootfs
	if o.timeout == 0 {
		o.timeout = 60 * time.Second
	}
	native := runNativeRootfs(t, env.rootfs, o, argv...)
	sandbox := runSandbox(t, o, argv...)
	checkNoCrash(t, sandbox)
	compare(t, native, sandbox)
	if testing.Verbose() {
		t.Logf("sandbox output:\n%s", sandbox.stdout)
	}
}

// TestMountOps: bind, rbind, read-only bind remount, tmpfs size=, busy
// and lazy umounts, MNT_EXPIRE, stacking, MS_MOVE, propagation flags,
// filesystem types and mountinfo lines, with Linux's errors.
func TestMountOps(t *testing.T) {
	requireSysAdmin(t)
	runMountCase(t, sandboxOpts{extra: privileged}, cProgram(t, "mountops"))
}

// TestMountPivotRoot: unshare(CLONE_NEWNS), then pivot_root into a tmpfs,
// both ways container tools do it.
func TestMountPivotRoot(t *testing.T) {
	requireSysAdmin(t)
	runMountCase(t, sandboxOpts{extra: privileged}, cProgram(t, "mountpivot"))
}

// TestMountUnprivileged: uid 1000 gets EPERM everywhere (ENOENT first for
// a missing target, as Linux resolves it before checking).
func TestMountUnprivileged(t *testing.T) {
	requireSandbox(t, false)
	runMountCase(t, sandboxOpts{user: "1000:1000"}, cProgram(t, "mountperm"))
}

// TestMountBusybox: what critest's mount propagation spec runs in a
// privileged container (mkdir -p X; mount --bind /etc X; ls X), and
// busybox's mount and umount applets.
func TestMountBusybox(t *testing.T) {
	requireSysAdmin(t)
	script := `mount -t tmpfs -o size=2m tmpfs /tmp || exit 1
mkdir -p /tmp/vol/containerMntPoint
mount --bind /etc /tmp/vol/containerMntPoint; echo bind $?
ls -A /tmp/vol/containerMntPoint
grep -c ' /tmp/vol/containerMntPoint ' /proc/self/mountinfo
mkdir /tmp/ro && mount --bind /tmp/vol /tmp/ro && mount -o remount,bind,ro /tmp/ro; echo ro $?
touch /tmp/ro/x 2>/dev/null; echo touch $?
touch /tmp/vol/x; echo touch $?
ls /tmp/ro
mkdir /tmp/rb && mount --rbind /tmp/vol /tmp/rb; echo rbind $?
ls /tmp/rb/containerMntPoint | head -2
cd /tmp/vol/containerMntPoint && umount /tmp/vol/containerMntPoint; echo busy $?
cd / && umount /tmp/vol/containerMntPoint; echo umount $?
umount -l /tmp/rb; echo lazy $?
grep -c ' /tmp/rb' /proc/self/mountinfo
ls -A /tmp/vol/containerMntPoint
`
	runMountCase(t, sandboxOpts{extra: privileged}, "/bin/sh", "-c", script)
}

// TestMountNoHostReveal: over the default rootfs (the host's / served by
// the gofer) the sandbox's own /proc, /sys, /dev and /tmp cover host
// directories; a privileged application must not uncover them by
// unmounting them, binding / without its submounts, or lazily unmounting
// its root (they are locked, as Linux's MNT_LOCKED mounts).
func TestMountNoHostReveal(t *testing.T) {
	requireSysAdmin(t)
	requireSandbox(t, true)
	host, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	script := `umount /proc; echo umount-proc $?
umount -l /dev; echo umount-dev $?
mkdir -p /tmp/x /tmp/y
mount --bind / /tmp/x; echo bind $?
mount --rbind / /tmp/y; echo rbind $?
cat /tmp/y/proc/1/mountinfo /tmp/x/proc/1/mountinfo 2>/dev/null
mount --move /proc /tmp/x; echo move $?
umount -l /; echo umount-root $?
cat /proc/self/mountinfo /proc/1/mountinfo
ls /sys /dev | wc -l
`
	r := runSandbox(t, sandboxOpts{extra: privileged, timeout: 30 * time.Second}, "/bin/sh", "-c", script)
	checkNoCrash(t, r)
	if r.err != nil || r.timedOut {
		t.Fatalf("sandbox run failed: %s", r.describe())
	}
	for _, want := range []string{"umount-proc 32\n", "umount-dev 32\n", "bind 32\n", "rbind 0\n", "move 32\n", "umount-root 0\n"} {
		if !strings.Contains(string(r.stdout), want) {
			t.Errorf("want %q in the output: %s", want, r.describe())
		}
	}
	// Every mountinfo line printed is one of the sandbox's own mounts (the
	// gofer's host view would show the host's: ext4, devtmpfs, cgroup...).
	for _, line := range strings.Split(string(r.stdout), "\n") {
		_, after, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		if f := strings.Fields(after); len(f) == 0 || !map[string]bool{"9p": true, "tmpfs": true, "proc": true, "sysfs": true}[f[0]] {
			t.Errorf("ESCAPE: the sandbox shows a host mount: %q\n%s", line, r.describe())
			break
		}
	}
	for _, line := range strings.Split(string(host), "\n") {
		if line != "" && strings.Contains(string(r.stdout), line) {
			t.Errorf("ESCAPE: the sandbox shows the host's mountinfo line %q: %s", line, r.describe())
			break
		}
	}
}
