package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// hostCase runs one of the host's own (dynamically linked) programs over
// the default rootfs of `do` (the host's / read-only, private /tmp) and
// directly on the host.
type hostCase struct {
	name  string
	argv  []string
	opts  sandboxOpts
	norms []normalizer
	needs string // a host file the case needs; skipped if absent
}

const python = "/usr/bin/python3"

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }
func py(program string) []string {
	return []string{python, "-B", "-c", program}
}

var hostCases = []hostCase{
	{name: "ls-usr", argv: []string{"/bin/ls", "-l", "/usr"}},
	{name: "sh-script", argv: sh(`
set -e
i=0; while [ $i -lt 50 ]; do i=$((i+1)); done; echo loop $i
f() { echo "fn $*"; }; f a b
case "$(uname -s)" in Linux) echo linux;; *) echo other;; esac
x=$(printf '%s\n' c b a | sort | tr '\n' ' '); echo "$x"
d=$(mktemp -d); echo data > "$d/f"; cat "$d/f"; rm -r "$d"
(for w in one two; do echo "$w" & done; wait) | sort
`)},
	{name: "coreutils-sort", argv: sh(`
seq 1 20000 | sort -r | sort -n | md5sum
seq 1 5000 | sort -R --random-source=/usr/bin/env | sort -n | tail -1
sort -t: -k3,3n /etc/passwd | cut -d: -f1 | head -3
`)},
	{name: "coreutils-sha256-large", opts: sandboxOpts{timeout: 180 * time.Second}, argv: sh(`
f=$(mktemp); yes 'runsc-cri large file line' | head -c 67108864 > "$f"
stat -c %s "$f"; sha256sum < "$f"; rm "$f"
`)},
	{name: "coreutils-cp-100MiB", opts: sandboxOpts{timeout: 180 * time.Second}, argv: sh(`
d=$(mktemp -d); head -c 104857600 /dev/urandom > "$d/a"
cp "$d/a" "$d/b" && cmp "$d/a" "$d/b" && echo identical
stat -c %s "$d/b"; rm -r "$d"
`)},
	{name: "python-threading-queue", needs: python, argv: py(`
import threading, queue
q, out = queue.Queue(), queue.Queue()
def worker():
    while True:
        n = q.get()
        if n is None:
            break
        out.put(sum(i * i for i in range(n)))
ts = [threading.Thread(target=worker) for _ in range(4)]
for t in ts: t.start()
for n in range(200): q.put(n)
for _ in ts: q.put(None)
for t in ts: t.join()
print(sum(out.get() for _ in range(200)), threading.active_count())
`)},
	{name: "python-subprocess", needs: python, argv: py(`
import subprocess, os, sys
r = subprocess.run(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], capture_output=True, text=True)
print(repr(r.stdout), repr(r.stderr), r.returncode)
p1 = subprocess.Popen(["/usr/bin/seq", "1", "1000"], stdout=subprocess.PIPE)
p2 = subprocess.Popen(["/usr/bin/wc", "-l"], stdin=p1.stdout, stdout=subprocess.PIPE, text=True)
p1.stdout.close()
print(p2.communicate()[0].strip(), p1.wait(), p2.wait())
pid = os.fork()
if pid == 0:
    os.execv("/bin/true", ["true"])
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r); os.write(w, b"through a pipe"); os._exit(7)
os.close(w); data = os.read(r, 100); _, status = os.waitpid(pid, 0)
print(data.decode(), os.waitstatus_to_exitcode(status))
`)},
	{name: "python-os-walk", needs: python, opts: sandboxOpts{timeout: 120 * time.Second}, argv: py(`
import os, glob
files = size = dirs = 0
for top in sorted(glob.glob("/usr/lib/python3*")):
    for root, ds, fs in os.walk(top):
        ds[:] = sorted(d for d in ds if d != "__pycache__")
        dirs += len(ds)
        for f in fs:
            p = os.path.join(root, f)
            if os.path.islink(p):
                continue
            files += 1
            size += os.lstat(p).st_size
print(dirs, files, size)
`)},
	{name: "python-json", needs: python, argv: py(`
import json
doc = {"a": [1, 2.5, None, True], "b": {"c": "d\u00e9"}, "n": list(range(100))}
s = json.dumps(doc, sort_keys=True)
print(len(s), json.loads(s) == doc)
print(json.dumps(json.loads('{"x": [1, {"y": "z"}]}'), indent=1))
`)},
	{name: "python-hashlib", needs: python, argv: py(`
import hashlib
data = b"runsc-cri" * 100000
for name in ("md5", "sha1", "sha256", "sha512", "blake2b"):
    print(name, hashlib.new(name, data).hexdigest()[:32])
`)},
	{name: "python-tempfile", needs: python, argv: py(`
import tempfile, os
with tempfile.TemporaryDirectory() as d:
    with tempfile.NamedTemporaryFile(dir=d, delete=False) as f:
        f.write(b"x" * 10000); name = f.name
    print(os.path.getsize(name), os.path.dirname(name) == d)
    os.rename(name, os.path.join(d, "renamed"))
    print(sorted(os.listdir(d)))
print(os.path.exists(d))
with tempfile.TemporaryFile() as f:
    f.write(b"hello"); f.seek(0); print(f.read())
`)},
	{name: "python-signals", needs: python, argv: py(`
import signal, os, time
got = []
signal.signal(signal.SIGALRM, lambda s, f: got.append("alarm"))
signal.signal(signal.SIGUSR1, lambda s, f: got.append("usr1"))
os.kill(os.getpid(), signal.SIGUSR1)
signal.alarm(1)
deadline = time.monotonic() + 10
while "alarm" not in got and time.monotonic() < deadline:
    time.sleep(0.05)
print(got)
signal.setitimer(signal.ITIMER_REAL, 0.1)
signal.pause() if hasattr(signal, "pause") else None
print(got)
`)},
	{name: "python-mmap", needs: python, argv: py(`
import mmap, tempfile, os
with tempfile.TemporaryFile() as f:
    f.write(b"\0" * 65536); f.flush()
    m = mmap.mmap(f.fileno(), 65536)
    m[0:5] = b"hello"; m[65531:] = b"world"; m.flush()
    f.seek(0); head = f.read(5); f.seek(65531); tail = f.read(5)
    print(head, tail, m.find(b"world"))
    m.close()
a = mmap.mmap(-1, 1 << 20)
a.write(b"anonymous"); a.seek(0); print(a.read(9), len(a))
`)},
}

func TestHost(t *testing.T) {
	for _, tc := range hostCases {
		t.Run(tc.name, func(t *testing.T) {
			requireSandbox(t, true)
			if tc.needs != "" {
				if _, err := os.Stat(tc.needs); err != nil {
					t.Skipf("%s not on this host: %v", tc.needs, err)
				}
			}
			o := tc.opts
			native := runNativeHost(t, o, tc.argv...)
			sandbox := runSandbox(t, o, tc.argv...)
			checkNoCrash(t, sandbox)
			compare(t, native, sandbox, tc.norms...)
		})
	}
}

// TestHostRootIsReadOnly checks that the default rootfs (the host's /)
// cannot be written, while /tmp can, and that the sandbox's /tmp is its
// own.
func TestHostRootIsReadOnly(t *testing.T) {
	requireSandbox(t, true)
	marker := filepath.Join("/usr", "runsc-cri-should-not-exist")
	os.Remove(marker)
	hostTmp, err := os.CreateTemp("", "runsc-cri-host-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	hostTmp.Close()
	defer os.Remove(hostTmp.Name())
	r := runSandbox(t, sandboxOpts{}, sh(`
touch `+marker+` 2>/dev/null && echo WROTE-USR || echo usr read-only
echo x > /tmp/f && cat /tmp/f
[ -e `+hostTmp.Name()+` ] && echo SEES-HOST-TMP || echo private tmp
`)...)
	checkNoCrash(t, r)
	want := "usr read-only\nx\nprivate tmp\n"
	if string(r.stdout) != want || r.code != 0 {
		t.Errorf("want stdout %q and exit 0, got: %s", want, r.describe())
	}
	if _, err := os.Stat(marker); err == nil {
		os.Remove(marker)
		t.Errorf("the sandbox created %s on the host", marker)
	}
}
