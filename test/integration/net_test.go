package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Inet sockets: the sandbox's netstack (sentry/socket/inet) against the
// host kernel. Python cases run on the host directly (ephemeral ports
// only); busybox cases run natively in a fresh network namespace with
// only lo up, the pod's view.

// netPython exercises TCP and UDP over 127.0.0.1 and ::1: echo, peek,
// MSG_DONTWAIT, MSG_WAITALL, FIONREAD, half-close, EPIPE, a 4 MiB transfer,
// ECONNREFUSED, EADDRINUSE (with and without SO_REUSEADDR),
// EADDRNOTAVAIL, non-blocking connect with select and SO_ERROR, epoll
// readiness (EPOLLIN, EPOLLRDHUP), SO_RCVTIMEO, options, IPV6_V6ONLY and
// v4-mapped peers, datagram truncation, ICMP port unreachable on a
// connected UDP socket, socket type errors, and signals interrupting
// blocking accept and recv.
const netPython = `import socket, select, errno, os, struct, threading, hashlib, fcntl, termios, time, signal
E = lambda e: errno.errorcode.get(e.errno, e.errno)
def tcp_echo(fam, host):
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.bind((host, 0)); srv.listen(1)
    port = srv.getsockname()[1]
    c = socket.socket(fam, socket.SOCK_STREAM); c.connect((host, port))
    a, peer = srv.accept()
    print("tcp", fam, "peer==sockname", peer[:2] == c.getsockname()[:2], "name", a.getsockname()[0], c.getpeername()[0])
    c.sendall(b"ping"); print(" got", a.recv(10))
    a.sendall(b"pong"); print(" got", c.recv(10))
    print(" peek", a.recv(4, socket.MSG_PEEK) if c.send(b"abcd") else None, a.recv(2), a.recv(10))
    try: c.recv(10, socket.MSG_DONTWAIT)
    except OSError as e: print(" dontwait", E(e))
    c.send(b"xyz"); time.sleep(0.05)
    print(" fionread", struct.unpack("i", fcntl.ioctl(a, termios.FIONREAD, b"\0"*4))[0]); a.recv(3)
    def later(): time.sleep(0.1); c.sendall(b"12"); time.sleep(0.1); c.sendall(b"345")
    th = threading.Thread(target=later); th.start()
    print(" waitall", a.recv(5, socket.MSG_WAITALL)); th.join()
    c.shutdown(socket.SHUT_WR); print(" eof", a.recv(10))
    a.sendall(b"after"); print(" half-close", c.recv(10))
    a.close(); print(" closed", c.recv(10))
    time.sleep(0.05)
    try:
        for i in range(3): c.send(b"x"); time.sleep(0.05)
    except OSError as e: print(" send after close", E(e))
    c.close(); srv.close()
for fam, host in [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]:
    tcp_echo(fam, host)
# big transfer
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
data = os.urandom(1 << 22)
def send():
    c = socket.create_connection(srv.getsockname()); c.sendall(data); c.close()
th = threading.Thread(target=send); th.start()
a, _ = srv.accept(); h = hashlib.sha256(); n = 0
while True:
    b = a.recv(65536)
    if not b: break
    h.update(b); n += len(b)
th.join(); print("bulk", n, h.hexdigest() == hashlib.sha256(data).hexdigest())
a.close()
# refused, addrinuse
port = srv.getsockname()[1]; srv.close()
try: socket.create_connection(("127.0.0.1", port))
except OSError as e: print("connect closed port", E(e))
s1 = socket.socket(); s1.bind(("127.0.0.1", 0)); s1.listen(1)
s2 = socket.socket()
try: s2.bind(s1.getsockname())
except OSError as e: print("bind in use", E(e))
s3 = socket.socket(); s3.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s3.bind(s1.getsockname())
except OSError as e: print("bind in use reuseaddr", E(e))
try: socket.socket().bind(("10.1.2.3", 0))
except OSError as e: print("bind foreign", E(e))
# nonblocking connect + select
s = socket.socket(); s.setblocking(False)
print("nb connect", E(OSError(s.connect_ex(s1.getsockname()), "")))
r, w, x = select.select([], [s], [], 5)
print(" writable", w == [s], "so_error", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
s.close()
s = socket.socket(); s.setblocking(False)
print("nb connect refused", E(OSError(s.connect_ex(("127.0.0.1", port)), "")))
r, w, x = select.select([s], [s], [], 5)
print(" ready", w == [s], r == [s], "so_error", E(OSError(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), "")))
s.close()
# epoll
ep = select.epoll(); c = socket.create_connection(s1.getsockname()); a, _ = s1.accept()
ep.register(a.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
print("epoll empty", ep.poll(0.05))
c.send(b"q"); print("epoll in", [(fd == a.fileno(), ev) for fd, ev in ep.poll(1)])
a.recv(1); c.close(); time.sleep(0.05)
print("epoll hup", [(fd == a.fileno(), ev) for fd, ev in ep.poll(1)])
# timeouts
a.settimeout(None); c2 = socket.create_connection(s1.getsockname()); a2, _ = s1.accept()
a2.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 100000))
t0 = time.time()
try: a2.recv(10)
except OSError as e: print("rcvtimeo", E(e), round(time.time() - t0, 1))
# options
print("opts", c2.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE), c2.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
      c2.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), c2.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), s1.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
c2.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1); c2.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c2.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 5))
print("opts set", c2.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), c2.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0,
      struct.unpack("ii", c2.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)))
c2.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536); print("rcvbuf", c2.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
try: c2.getsockopt(socket.SOL_SOCKET, 999)
except OSError as e: print("bad opt", E(e))
# v6only and dual stack
d = socket.socket(socket.AF_INET6); d.bind(("::", 0)); d.listen(1)
print("v6only", d.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
c = socket.create_connection(("127.0.0.1", d.getsockname()[1])); a, peer = d.accept(); print("mapped peer", peer[0], a.getsockname()[0])
v = socket.socket(socket.AF_INET6); v.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); v.bind(("::", 0)); v.listen(1)
try: socket.create_connection(("127.0.0.1", v.getsockname()[1]), timeout=2)
except OSError as e: print("v6only v4 connect", E(e))
# UDP
for fam, host in [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]:
    u1 = socket.socket(fam, socket.SOCK_DGRAM); u1.bind((host, 0))
    u2 = socket.socket(fam, socket.SOCK_DGRAM)
    print("udp unbound name", u2.getsockname()[:2])
    u2.sendto(b"datagram-one", u1.getsockname()); u2.sendto(b"two", u1.getsockname())
    d, a = u1.recvfrom(100); print("udp", d, a == u2.getsockname())
    print(" fionread", struct.unpack("i", fcntl.ioctl(u1, termios.FIONREAD, b"\0"*4))[0])
    print(" trunc", u1.recvmsg(2)[::2])
    try: u1.recv(10, socket.MSG_DONTWAIT)
    except OSError as e: print(" empty", E(e))
    u2.connect(u1.getsockname()); u2.send(b"conn"); print(" connected", u1.recv(10), u2.getpeername() == u1.getsockname())
    u1.sendto(b"", u2.getsockname()); print(" empty dgram", u2.recvfrom(10)[0])
    u3 = socket.socket(fam, socket.SOCK_DGRAM); u3.connect((host, 9)); u3.send(b"x")
    time.sleep(0.05)
    try: u3.recv(10)
    except OSError as e: print(" icmp unreach", E(e))
try: socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET)
except OSError as e: print("seqpacket", E(e))
try: socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_UDP)
except OSError as e: print("stream udp", E(e))
try: socket.socket().getpeername()
except OSError as e: print("peername", E(e))
try: socket.socket().recv(1)
except OSError as e: print("recv unconnected", E(e))
try: socket.socket().send(b"x")
except OSError as e: print("send unconnected", E(e))
try: socket.socket().listen(1) or print("listen unbound ok")
except OSError as e: print("listen", E(e))
# a signal interrupts a blocking accept and recv (the handler raises)
class Alarm(Exception): pass
def on_alarm(sig, frame): raise Alarm()
signal.signal(signal.SIGALRM, on_alarm)
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
signal.setitimer(signal.ITIMER_REAL, 0.2)
try: l.accept()
except Alarm: print("accept interrupted")
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
signal.setitimer(signal.ITIMER_REAL, 0.2)
try: a.recv(10)
except Alarm: print("recv interrupted")
c.send(b"still works"); print(a.recv(20))
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.bind(("::", 0))
u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u4.bind(("127.0.0.1", 0))
u6.sendto(b"v4 dest on a v6 socket", u4.getsockname()); print(u4.recvfrom(100)[0])
u6.connect(u4.getsockname()); print("v6 connected to v4", u6.getpeername()[0])
print("peercred", struct.unpack("iII", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)))
r1 = socket.socket(); r1.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1); r1.bind(("127.0.0.1", 0)); r1.listen(4)
r2 = socket.socket(); r2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1); r2.bind(r1.getsockname()); r2.listen(4)
print("reuseport both bound", r1.getsockname() == r2.getsockname(), r2.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT))
r3 = socket.socket()
try: r3.bind(r1.getsockname())
except OSError as e: print("without SO_REUSEPORT", E(e))
print("end")
`

func TestNetPython(t *testing.T) {
	requireSandbox(t, true)
	o := sandboxOpts{timeout: 60 * time.Second}
	argv := py(netPython)
	native := runNativeHost(t, o, argv...)
	sandbox := runSandbox(t, o, argv...)
	checkNoCrash(t, sandbox)
	compare(t, native, sandbox)
}

// netBusyboxCases run over the busybox rootfs.
var netBusyboxCases = []bbCase{
	{name: "httpd-wget", script: inTmp + `
echo "hello from httpd" > index.html
httpd -f -p 127.0.0.1:8080 -h "$PWD" & pid=$!
i=0; until wget -q -O /dev/null http://127.0.0.1:8080/index.html 2>/dev/null || [ $i -gt 50 ]; do i=$((i+1)); sleep 0.1; done
wget -q -O- http://127.0.0.1:8080/index.html
wget -O- http://127.0.0.1:8080/missing 2>&1 | grep -o "404 Not Found"
wget -q -O- "http://[::1]:8080/index.html" 2>&1 || echo "v6 refused: httpd is on 127.0.0.1 only"
kill $pid; wait $pid 2>/dev/null; echo httpd status $?
`},
	{name: "nc-both-ways", script: inTmp + `
nc -l -p 9001 > got & sleep 0.3
echo "client to server" | nc 127.0.0.1 9001; wait
cat got
nc -l -p 9002 -e echo "server to client" & sleep 0.3
nc 127.0.0.1 9002 </dev/null; wait
nc -l -p 9003 -e cat & sleep 0.3
(echo "echoed back"; sleep 0.3) | nc ::1 9003; wait
nc 127.0.0.1 9004 </dev/null; echo "refused status $?"
`},
	{name: "ping", norms: []normalizer{re(` time=[0-9.]+ ms`, " time=T ms"), re(`= [0-9./]+ ms`, "= T ms"), re(`ttl=[-0-9]+`, "ttl=N")}, script: `
ping -c 2 127.0.0.1; echo status $?
ping6 -c 1 ::1 | grep -v "^$"; echo status $?
ping -c 1 -W 1 10.0.0.1; echo status $?
`},
	{name: "ping-unprivileged", opts: sandboxOpts{user: "1000:1000"}, script: `
ping -c 1 127.0.0.1; echo status $?
`},
	{name: "sys-class-net", script: `
ls /sys/class/net
cat /sys/class/net/lo/address /sys/class/net/lo/mtu /sys/class/net/lo/flags /sys/class/net/lo/ifindex /sys/class/net/lo/operstate /sys/class/net/lo/type
`},
	{name: "bridge-add-del", opts: sandboxOpts{extra: privileged}, script: `
brctl addbr foobar; echo addbr $?
ls /sys/class/net; cat /sys/class/net/foobar/operstate /sys/class/net/foobar/mtu
brctl addbr foobar 2>/dev/null; echo again $?
ip link show foobar >/dev/null; echo listed $?
brctl delbr foobar; echo delbr $?
ip link show foobar >/dev/null 2>&1; echo listed $?
brctl delbr foobar 2>/dev/null; echo again $?
`},
	{name: "bridge-unprivileged", opts: sandboxOpts{user: "1000:1000"}, script: `
brctl addbr foobar; echo addbr $?
`},
	{name: "ip-netlink", script: `
ip link
ip addr
ip -4 addr
ip route
ip addr show dev lo
`},
	{name: "ifconfig-netstat", script: `
ifconfig lo | grep -E "inet addr|UP"
ifconfig -a | grep -c "Link encap"
httpd -f -p 127.0.0.1:8080 -h / & h=$!
nc -l -p 9999 & n=$!
sleep 0.3
netstat -ltn
kill $h $n; wait
`},
}

// runNativeNetns runs a busybox case natively like runNativeRootfs, in a
// fresh network namespace whose lo is up, with that namespace's sysfs on
// /sys.
func runNativeNetns(t *testing.T, root string, o sandboxOpts, argv ...string) result {
	t.Helper()
	envv := append(append([]string(nil), baseEnv...), o.env...)
	a := []string{"unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc=" + root + "/proc", "--",
		"/bin/sh", "-c", "ip link set lo up || exit 97\nmkdir -p \"$1/sys\" && mount -t sysfs sysfs \"$1/sys\" || exit 97\n" + nativeSetup, "native", root, o.user, o.cwd}
	a = append(a, envv...)
	a = append(a, argv...)
	r := run(context.Background(), o.timeout, o.stdin, os.Environ(), a...)
	if r.timedOut || r.err != nil || r.code == 97 {
		t.Fatalf("the NATIVE run failed, the test itself is wrong: %s", r.describe())
	}
	return r
}

func TestNetBusybox(t *testing.T) {
	for _, tc := range netBusyboxCases {
		t.Run(tc.name, func(t *testing.T) {
			requireSandbox(t, false)
			o := tc.opts
			o.rootfs = env.rootfs
			if o.timeout == 0 {
				o.timeout = 60 * time.Second
			}
			argv := []string{"/bin/sh", "-c", tc.script}
			native := runNativeNetns(t, env.rootfs, o, argv...)
			sandbox := runSandbox(t, o, argv...)
			checkNoCrash(t, sandbox)
			compare(t, native, sandbox, tc.norms...)
		})
	}
}

// TestNetNginx runs the host's nginx (critest's web server is nginx) in
// the sandbox over the host's root: two worker processes sharing the
// listener, epoll, sendfile and TCP_CORK, on 127.0.0.1 and ::1, then 600
// requests from 30 threads.
func TestNetNginx(t *testing.T) {
	requireSandbox(t, true)
	if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
		t.Skipf("no nginx on this host (apt-get install nginx-light): %v", err)
	}
	script := `
set -e
d=$(mktemp -d); chmod 755 $d; mkdir $d/www; echo "nginx page" > $d/www/index.html
cat > $d/nginx.conf <<END
worker_processes 2;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 64; }
http {
  access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path $d/cb; proxy_temp_path $d/pt; fastcgi_temp_path $d/ft; uwsgi_temp_path $d/ut; scgi_temp_path $d/st;
  server { listen 127.0.0.1:8080; listen [::1]:8080; root $d/www; }
}
END
nginx -c $d/nginx.conf -g "daemon off;" & pid=$!
i=0; until [ -e $d/nginx.pid ] || [ $i -gt 50 ]; do i=$((i+1)); sleep 0.1; done
` + python + ` -c '
import threading, urllib.request
for u in ("http://127.0.0.1:8080/", "http://[::1]:8080/index.html"):
    print(urllib.request.urlopen(u, timeout=10).read())
ok, errs, lock = [0], [], threading.Lock()
def worker():
    for i in range(20):
        try:
            b = urllib.request.urlopen("http://127.0.0.1:8080/", timeout=10).read()
            with lock: ok[0] += b == b"nginx page\n"
        except Exception as e:
            with lock: errs.append(repr(e))
ts = [threading.Thread(target=worker) for _ in range(30)]
[t.start() for t in ts]; [t.join() for t in ts]
print("ok", ok[0], "errors", errs[:3])
'
kill $pid; wait $pid || true
cat $d/error.log
`
	r := runSandbox(t, sandboxOpts{timeout: 120 * time.Second}, sh(script)...)
	checkNoCrash(t, r)
	want := "b'nginx page\\n'\nb'nginx page\\n'\nok 600 errors []\n"
	if string(r.stdout) != want || r.code != 0 {
		t.Errorf("want stdout %q and exit 0, got: %s", want, r.describe())
	}
}

// TestNetSigpipe: a send on a connection the peer closed (reset) kills
// the sender with SIGPIPE when it does not ignore it.
func TestNetSigpipe(t *testing.T) {
	requireSandbox(t, true)
	argv := sh(python + ` -c '
import signal, socket, time
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); a, _ = l.accept(); a.close()
time.sleep(0.1)
print("before", flush=True)
for i in range(5):
    c.send(b"x" * 10); time.sleep(0.05)
print("not killed")
'; echo "status $?"`)
	o := sandboxOpts{timeout: 30 * time.Second}
	native := runNativeHost(t, o, argv...)
	sandbox := runSandbox(t, o, argv...)
	checkNoCrash(t, sandbox)
	compare(t, native, sandbox)
}

// netGoProgram is a Go net/http server on [::] and its clients over
// 127.0.0.1 and ::1 (500 POSTs of 100 kB from 20 goroutines with
// keep-alive), a refused dial and UDP: Go's runtime network poller
// (epoll, non-blocking connect, accept4) on the sandbox's stack.
const netGoProgram = `package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

func main() {
	l, err := net.Listen("tcp", ":0") // dual-stack [::]
	if err != nil {
		panic(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "hello %s %d", r.URL.Path, len(b))
	})}
	go srv.Serve(l)
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		r, err := http.Get(fmt.Sprintf("http://%s:%d/x", host, port))
		if err != nil {
			fmt.Println("get", host, err)
			continue
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		fmt.Println(host, string(b))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				r, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/p", port), "text/plain", io.NopCloser(io.LimitReader(zero{}, 100000)))
				if err != nil {
					fmt.Println("post", err)
					return
				}
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if string(b) == "hello /p 100000" {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	fmt.Println("posts ok", ok)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = (&net.Dialer{}).DialContext(ctx, "tcp", "127.0.0.1:1")
	fmt.Println("dial closed port:", err)
	u, _ := net.ListenPacket("udp", "127.0.0.1:0")
	c, _ := net.Dial("udp", u.LocalAddr().String())
	c.Write([]byte("udp!"))
	b := make([]byte, 10)
	n, from, _ := u.ReadFrom(b)
	fmt.Println("udp", string(b[:n]), from.(*net.UDPAddr).IP)
	srv.Shutdown(context.Background())
}

type zero struct{}

func (zero) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}
`

// TestNetGo builds netGoProgram statically into the busybox rootfs and
// runs it natively (fresh network namespace) and in the sandbox.
func TestNetGo(t *testing.T) {
	requireSandbox(t, false)
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = "/usr/local/go/bin/go"
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(netGoProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module gonet\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(env.rootfs, "cbin", "gonet")
	cmd := exec.Command(gobin, "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	defer os.Remove(bin)
	o := sandboxOpts{rootfs: env.rootfs, timeout: 60 * time.Second}
	native := runNativeNetns(t, env.rootfs, o, "/cbin/gonet")
	sandbox := runSandbox(t, o, "/cbin/gonet")
	checkNoCrash(t, sandbox)
	compare(t, native, sandbox)
}
