package cri

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/network"
)

const cniPluginDir = "/usr/lib/cni"

// cniEnv is a CNI config dir with a bridge + host-local + portmap network
// on a test subnet and a bridge of its own (deleted at the end).
type cniEnv struct {
	confDir, dataDir, bridge, name string
	subnet                         *net.IPNet
}

func newCNIEnv(t *testing.T, third int) *cniEnv { return newCNIEnvV6(t, third, false) }

// newCNIEnvV6 is newCNIEnv, with an IPv6 range fd00:88:<third>::/64 too
// when v6 is set.
func newCNIEnvV6(t *testing.T, third int, v6 bool) *cniEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("pod networks need root (network namespaces, CNI plugins)")
	}
	if _, err := os.Stat(filepath.Join(cniPluginDir, "bridge")); err != nil {
		t.Skip("no CNI plugins in " + cniPluginDir + " (install containernetworking-plugins)")
	}
	var b [3]byte
	rand.Read(b[:])
	c := &cniEnv{confDir: t.TempDir(), dataDir: t.TempDir(), bridge: "rcni" + hex.EncodeToString(b[:]), name: "rcni-e2e"}
	_, c.subnet, _ = net.ParseCIDR(fmt.Sprintf("10.88.%d.0/24", third))
	ranges, routes := fmt.Sprintf(`[[{"subnet": %q}]`, c.subnet), `[{"dst": "0.0.0.0/0"}`
	if v6 {
		ranges += fmt.Sprintf(`, [{"subnet": "fd00:88:%d::/64"}]`, third)
		routes += `, {"dst": "::/0"}`
	}
	plugins := fmt.Sprintf(`{"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
	  "ipam": {"type": "host-local", "dataDir": %q, "ranges": %s], "routes": %s]}}`, c.bridge, c.dataDir, ranges, routes)
	if _, err := exec.LookPath("iptables"); err == nil {
		plugins += `, {"type": "portmap", "capabilities": {"portMappings": true}}`
	}
	conf := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "plugins": [%s]}`, c.name, plugins)
	if err := os.WriteFile(filepath.Join(c.confDir, "10-e2e.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", c.bridge).Run() })
	return c
}

// withNetwork gives the daemon a network manager on c's config.
func (c *cniEnv) option(t *testing.T, root string) Option {
	m, err := network.New(network.Options{ConfDir: c.confDir, BinDirs: []string{cniPluginDir}, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return func(s *Server) { s.net = m }
}

// httpGet fetches url, retrying for up to 20 s while the server starts.
func httpGet(t *testing.T, url string) (string, error) {
	t.Helper()
	client := &http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b), err
		}
		if time.Now().After(deadline) {
			return "", err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemon) podIP(t *testing.T, id string) string {
	t.Helper()
	r, err := d.rt.PodSandboxStatus(ctxT(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetStatus().GetNetwork().GetIp()
}

func (d *daemon) networkReady(t *testing.T) *runtimeapi.RuntimeCondition {
	t.Helper()
	r, err := d.rt.Status(ctxT(t), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.GetStatus().GetConditions() {
		if c.Type == runtimeapi.NetworkReady {
			return c
		}
	}
	t.Fatal("no NetworkReady condition")
	return nil
}

// TestPodNetwork runs two pods on a CNI bridge network: a busybox httpd
// in pod A answers the test process at A's IP and pod B (wget by IP); a
// hostPort (portmap) reaches it from the host; the pod sees eth0 with its
// address (ifconfig: SIOCGIFCONF and friends); a daemon restart keeps it
// reachable; stop and remove leave no namespace, veth, address
// reservation or iptables rule behind.
func TestPodNetwork(t *testing.T) {
	c := newCNIEnv(t, 211)
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs, c.option(t, root))
	d.pull(t, e.image)
	ctx := ctxT(t)
	if cond := d.networkReady(t); !cond.Status {
		t.Fatalf("NetworkReady with a config: %v", cond)
	}

	const hostPort = 30811
	pcfgA := podConfigFor("net-a", t.TempDir())
	pcfgA.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 8080, HostPort: hostPort}}
	t0 := time.Now()
	podA := d.runPod(t, pcfgA)
	t.Logf("RunPodSandbox with CNI: %v", time.Since(t0))
	d.createStart(t, podA, pcfgA, ctrConfig("web", e.image,
		"mkdir -p /tmp/www && echo served-over-eth0 > /tmp/www/index.html && busybox dd if=/dev/zero of=/tmp/www/big bs=65536 count=64 2>/dev/null && exec busybox httpd -f -p 8080 -h /tmp/www"))
	ipA := d.podIP(t, podA)
	if ip := net.ParseIP(ipA); ip == nil || !c.subnet.Contains(ip) {
		t.Fatalf("pod IP %q not in %v", ipA, c.subnet)
	}

	// The sentry lives in the pod's namespace, not the host's.
	if rec, err := d.srv.store.Pod(podA); err != nil {
		t.Fatal(err)
	} else if got, want := nsInode(t, fmt.Sprintf("/proc/%d/ns/net", rec.SentryPID)), nsInode(t, filepath.Join(root, "netns", podA)); got != want {
		t.Errorf("the sentry's network namespace is %d, the pod's %d", got, want)
	}

	// From the host, at the pod's IP.
	if body, err := httpGet(t, "http://"+ipA+":8080/"); body != "served-over-eth0\n" || err != nil {
		t.Fatalf("GET from the host: %q %v", body, err)
	}

	// 4 MiB: full-size segments both ways (the host veth must not hand
	// the sentry's socket TSO super-frames or partial checksums).
	if body, err := httpGet(t, "http://"+ipA+":8080/big"); len(body) != 4<<20 || strings.Trim(body, "\x00") != "" || err != nil {
		t.Errorf("GET 4 MiB from the host: %d bytes (%.200q), %v", len(body), body, err)
	}

	// From another pod, by IP.
	pcfgB := podConfigFor("net-b", t.TempDir())
	podB := d.runPod(t, pcfgB)
	ctrB := d.createStart(t, podB, pcfgB, ctrConfig("client", e.image, "exec sleep 1000"))
	ipB := d.podIP(t, podB)
	if ipB == "" || ipB == ipA {
		t.Fatalf("pod B's IP %q (A: %q)", ipB, ipA)
	}
	if r := d.exec(t, ctrB, 20, "busybox", "wget", "-q", "-O", "-", "http://"+ipA+":8080/"); string(r.Stdout) != "served-over-eth0\n" || r.ExitCode != 0 {
		t.Errorf("wget from pod B: %q %q %d", r.Stdout, r.Stderr, r.ExitCode)
	}
	if r := d.exec(t, ctrB, 20, "sh", "-c", "busybox wget -q -O - http://"+ipA+":8080/big | busybox wc -c"); strings.TrimSpace(string(r.Stdout)) != fmt.Sprint(4<<20) {
		t.Errorf("4 MiB from pod A to pod B: %q %q %d", r.Stdout, r.Stderr, r.ExitCode)
	}
	// Out of the pod to the host, at the bridge's address (the gateway).
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(make([]byte, 4<<20))
			return
		}
		io.WriteString(w, "host saw "+strings.Split(r.RemoteAddr, ":")[0])
	}))
	gw := c.subnet.IP.To4()
	gwURL := fmt.Sprintf("http://%d.%d.%d.1:%d/", gw[0], gw[1], gw[2], l.Addr().(*net.TCPAddr).Port)
	if r := d.exec(t, ctrB, 20, "busybox", "wget", "-q", "-O", "-", gwURL); string(r.Stdout) != "host saw "+ipB {
		t.Errorf("wget %s from pod B: %q %q %d", gwURL, r.Stdout, r.Stderr, r.ExitCode)
	}
	if r := d.exec(t, ctrB, 20, "sh", "-c", "busybox wget -q -O - "+gwURL+"big | busybox wc -c"); strings.TrimSpace(string(r.Stdout)) != fmt.Sprint(4<<20) {
		t.Errorf("4 MiB from the host to pod B: %q %q %d", r.Stdout, r.Stderr, r.ExitCode)
	}

	// The pod sees its interface: ifconfig (SIOCGIFCONF, SIOCGIFADDR...),
	// ip addr and ip route (netlink, as getifaddrs), /proc/net/dev.
	for _, c := range []struct {
		cmd  []string
		want string
	}{
		{[]string{"busybox", "ifconfig", "eth0"}, ipB},
		{[]string{"busybox", "ifconfig"}, "HWaddr"},
		{[]string{"busybox", "ip", "addr"}, "inet " + ipB + "/24"},
		{[]string{"busybox", "ip", "route"}, "default via"},
		{[]string{"cat", "/proc/net/dev"}, "eth0:"},
	} {
		if r := d.exec(t, ctrB, 10, c.cmd...); !strings.Contains(string(r.Stdout), c.want) {
			t.Errorf("%q in pod B: %q %q %d, want %q", c.cmd, r.Stdout, r.Stderr, r.ExitCode, c.want)
		}
	}

	// A hostPort through portmap's DNAT: at the host's own address
	// (PREROUTING/OUTPUT DNAT of local destinations) and at 127.0.0.1.
	if _, err := exec.LookPath("iptables"); err == nil {
		for _, host := range hostAddrs() {
			if body, err := httpGet(t, fmt.Sprintf("http://%s/", net.JoinHostPort(host, fmt.Sprint(hostPort)))); body != "served-over-eth0\n" || err != nil {
				t.Errorf("GET hostPort at %s: %q %v", host, body, err)
			}
		}
	} else {
		t.Log("no iptables: hostPort not tested")
	}

	// A daemon restart changes nothing for the pod.
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if body, err := httpGet(t, "http://"+ipA+":8080/"); body != "served-over-eth0\n" || err != nil {
		t.Errorf("GET while the daemon is down: %q %v", body, err)
	}
	d = startPodDaemon(t, root, e.certs, c.option(t, root))
	if got := d.podIP(t, podA); got != ipA {
		t.Errorf("pod IP after a restart: %q, want %q", got, ipA)
	}
	if body, err := httpGet(t, "http://"+ipA+":8080/"); body != "served-over-eth0\n" || err != nil {
		t.Errorf("GET after a restart: %q %v", body, err)
	}

	// Stop and remove: nothing left.
	hostVeths := c.hostVeths(t)
	if _, err := d.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podA}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podA}); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if got := d.podIP(t, podA); got != "" {
		t.Errorf("stopped pod's IP %q", got)
	}
	if _, err := d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podA}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "netns", podA)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pod A's namespace left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.dataDir, c.name, ipA)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pod A's address still reserved: %v", err)
	}
	if left := c.hostVeths(t); len(left) != len(hostVeths)-1 {
		t.Errorf("host veths before %v, after %v", hostVeths, left)
	}
	if out, err := exec.Command("iptables-save").Output(); err == nil && strings.Contains(string(out), podA) {
		t.Errorf("iptables rules of pod A left:\n%s", out)
	}
	if _, err := d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podB}); err != nil {
		t.Fatal(err)
	}
	if left := c.hostVeths(t); len(left) != 0 {
		t.Errorf("host veths left: %v", left)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "netns")); len(ents) != 0 {
		t.Errorf("namespaces left: %v", ents)
	}
}

// hostAddrs are the addresses a hostPort is tried at: the host's first
// global IPv4 address and 127.0.0.1.
func hostAddrs() []string {
	out := []string{"127.0.0.1"}
	ifcs, _ := net.Interfaces()
	for _, ifc := range ifcs {
		if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 || strings.HasPrefix(ifc.Name, "rcni") || strings.HasPrefix(ifc.Name, "veth") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return append([]string{n.IP.String()}, out...)
			}
		}
	}
	return out
}

// hostVeths lists the interfaces enslaved to the test bridge.
func (c *cniEnv) hostVeths(t *testing.T) []string {
	ents, _ := os.ReadDir(filepath.Join("/sys/class/net", c.bridge, "brif"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestNetworkReadyWithoutConfig: no CNI config, NetworkReady is false
// with containerd's reason, and a pod still starts with loopback only (no
// IP, no eth0, no namespace mounted), its sentry in an empty network
// namespace of its own.
func TestNetworkReadyWithoutConfig(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	m, err := network.New(network.Options{ConfDir: t.TempDir(), BinDirs: []string{cniPluginDir}, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	d := startPodDaemon(t, root, e.certs, func(s *Server) { s.net = m })
	d.pull(t, e.image)
	cond := d.networkReady(t)
	if cond.Status || cond.Reason != "NetworkPluginNotReady" || !strings.Contains(cond.Message, "cni config uninitialized") {
		t.Errorf("NetworkReady without a config: %v", cond)
	}
	pcfg := podConfigFor("lo-only", t.TempDir())
	id := d.runPod(t, pcfg)
	if ip := d.podIP(t, id); ip != "" {
		t.Errorf("loopback-only pod has IP %q", ip)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "netns")); len(ents) != 0 {
		t.Errorf("namespaces for a loopback-only pod: %v", ents)
	}
	// Its sentry is in an empty network namespace of its own all the same.
	rec, err := d.srv.store.Pod(id)
	if err != nil {
		t.Fatal(err)
	}
	sentryNS := fmt.Sprintf("/proc/%d/ns/net", rec.SentryPID)
	if nsInode(t, sentryNS) == nsInode(t, "/proc/self/ns/net") {
		t.Error("a loopback-only pod's sentry is in the daemon's network namespace")
	}
	if r := d.exec(t, d.createStart(t, id, pcfg, ctrConfig("lo", e.image, "exec sleep 1000")), 10, "cat", "/proc/net/dev"); strings.Contains(string(r.Stdout), "eth0") || !strings.Contains(string(r.Stdout), "lo:") {
		t.Errorf("a loopback-only pod's interfaces: %q", r.Stdout)
	}
}

// TestPodNetworkBench compares RunPodSandbox and Stop+Remove latencies of
// loopback-only pods with pods on a CNI bridge network (the network is
// set up while the sentry starts). Run with RUNSC_CRI_BENCH_PODS=1.
func TestPodNetworkBench(t *testing.T) {
	if os.Getenv("RUNSC_CRI_BENCH_PODS") == "" {
		t.Skip("set RUNSC_CRI_BENCH_PODS=1 to run the pod network benchmark")
	}
	c := newCNIEnv(t, 212)
	e := newPodEnv(t)
	const pods = 10
	for _, mode := range []string{"loopback only", "CNI bridge"} {
		root := filepath.Join(t.TempDir(), "root")
		var opt Option = c.option(t, root)
		if mode == "loopback only" {
			m, err := network.New(network.Options{ConfDir: t.TempDir(), Root: root})
			if err != nil {
				t.Fatal(err)
			}
			opt = func(s *Server) { s.net = m }
		}
		d := startPodDaemon(t, root, e.certs, opt)
		ctx := ctxT(t)
		var run, stop []time.Duration
		for i := 0; i <= pods; i++ {
			pcfg := podConfigFor(fmt.Sprintf("bench-%d", i), t.TempDir())
			t0 := time.Now()
			id := d.runPod(t, pcfg)
			t1 := time.Now()
			if _, err := d.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
				t.Fatal(err)
			}
			if _, err := d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
				t.Fatal(err)
			}
			if i > 0 { // the first one warms the page cache
				run = append(run, t1.Sub(t0))
				stop = append(stop, time.Since(t1))
			}
		}
		t.Logf("%-14s RunPodSandbox median %v (min %v, max %v); Stop+Remove median %v", mode,
			netMedian(run), minD(run), maxD(run), netMedian(stop))
		d.stop()
	}
}

func netMedian(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func minD(d []time.Duration) time.Duration {
	m := d[0]
	for _, x := range d {
		m = min(m, x)
	}
	return m
}

func maxD(d []time.Duration) time.Duration {
	m := d[0]
	for _, x := range d {
		m = max(m, x)
	}
	return m
}

// TestPodNetworkRollback fails RunPodSandbox after the network is set up
// (injected faults) and checks that the rollback ran CNI DEL and removed
// the namespace: no veth on the bridge, no address reserved, no record.
func TestPodNetworkRollback(t *testing.T) {
	c := newCNIEnv(t, 213)
	e := newPodEnv(t)
	f := &faults{}
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs, c.option(t, root), withFaults(f.inject))
	ctx := ctxT(t)
	for _, step := range []string{"pod:sentry", "pod:network", "pod:ready"} {
		f.set(step)
		pcfg := podConfigFor("net-rollback", t.TempDir())
		pcfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: 30813}}
		if _, err := d.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pcfg}); err == nil {
			t.Fatalf("%s: RunPodSandbox succeeded", step)
		}
		if left := dirEntries(t, filepath.Join(root, "netns")); len(left) != 0 {
			t.Errorf("%s: namespaces left: %v", step, left)
		}
		if left := dirEntries(t, filepath.Join(root, "network")); len(left) != 1 || left[0] != "cache" {
			t.Errorf("%s: network records left: %v", step, left)
		}
		if left := c.hostVeths(t); len(left) != 0 {
			t.Errorf("%s: host veths left: %v", step, left)
		}
		for _, ent := range dirEntries(t, filepath.Join(c.dataDir, c.name)) {
			if strings.HasPrefix(ent, "10.") {
				t.Errorf("%s: address %s still reserved", step, ent)
			}
		}
		if out, err := exec.Command("iptables-save").Output(); err == nil && strings.Contains(string(out), "30813") {
			t.Errorf("%s: hostPort rule left", step)
		}
	}
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestPodNetworkDualStack: with an IPv4 and an IPv6 range the pod gets
// both (the IPv4 one as its IP, the IPv6 one as an additional IP) and is
// reachable at both from the host.
func TestPodNetworkDualStack(t *testing.T) {
	c := newCNIEnvV6(t, 215, true)
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs, c.option(t, root))
	d.pull(t, e.image)
	pcfg := podConfigFor("net-ds", t.TempDir())
	id := d.runPod(t, pcfg)
	d.createStart(t, id, pcfg, ctrConfig("web", e.image,
		"mkdir -p /tmp/www && echo dual > /tmp/www/index.html && exec busybox httpd -f -p 8080 -h /tmp/www"))
	r, err := d.rt.PodSandboxStatus(ctxT(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		t.Fatal(err)
	}
	nw := r.GetStatus().GetNetwork()
	if net.ParseIP(nw.GetIp()).To4() == nil || len(nw.GetAdditionalIps()) != 1 || net.ParseIP(nw.GetAdditionalIps()[0].GetIp()).To4() != nil {
		t.Fatalf("network status %v", nw)
	}
	v6 := nw.GetAdditionalIps()[0].GetIp()
	for _, host := range []string{nw.GetIp(), v6} {
		if body, err := httpGet(t, "http://"+net.JoinHostPort(host, "8080")+"/"); body != "dual\n" || err != nil {
			t.Errorf("GET at %s: %q %v", host, body, err)
		}
	}
}
