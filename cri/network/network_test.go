package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const pluginDir = "/usr/lib/cni"

// needCNI skips without root or Debian's containernetworking-plugins.
func needCNI(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces and CNI plugins need root")
	}
	if _, err := os.Stat(filepath.Join(pluginDir, "bridge")); err != nil {
		t.Skip("no CNI plugins in " + pluginDir + " (install containernetworking-plugins)")
	}
}

// TestConf is a bridge + host-local (+ portmap) network on a test subnet
// with a bridge of its own; Cleanup deletes the bridge.
type TestConf struct {
	Dir, DataDir, Bridge, Name string
	Subnet                     *net.IPNet
}

// writeConf writes a conflist in a new config dir.
func writeConf(t *testing.T, third int, portmap bool) *TestConf {
	t.Helper()
	var b [3]byte
	rand.Read(b[:])
	c := &TestConf{Dir: t.TempDir(), DataDir: t.TempDir(), Bridge: "rcni" + hex.EncodeToString(b[:]), Name: "rcnitest"}
	_, c.Subnet, _ = net.ParseCIDR(fmt.Sprintf("10.88.%d.0/24", third))
	plugins := fmt.Sprintf(`{"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
	  "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}}`, c.Bridge, c.DataDir, c.Subnet)
	if portmap {
		plugins += `, {"type": "portmap", "capabilities": {"portMappings": true}}`
	}
	conf := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "plugins": [%s]}`, c.Name, plugins)
	if err := os.WriteFile(filepath.Join(c.Dir, "10-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(c.Bridge); err == nil {
			netlink.LinkDel(l)
		}
	})
	return c
}

func TestStatus(t *testing.T) {
	root := t.TempDir()
	conf := t.TempDir()
	m, err := New(Options{ConfDir: conf, BinDirs: []string{pluginDir}, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Status(); !errors.Is(err, ErrNoConfig) || err.Error() != "cni config uninitialized" {
		t.Errorf("no config: %v", err)
	}
	os.WriteFile(filepath.Join(conf, "05-bad.conflist"), []byte("{not json"), 0o644)
	if err := m.Status(); !errors.Is(err, ErrNoConfig) {
		t.Errorf("bad config only: %v", err)
	}
	os.WriteFile(filepath.Join(conf, "10-x.conflist"), []byte(`{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"no-such-plugin"}]}`), 0o644)
	if err := m.Status(); err == nil || !strings.Contains(err.Error(), "no-such-plugin") {
		t.Errorf("missing plugin: %v", err)
	}
	if _, err := os.Stat(filepath.Join(pluginDir, "bridge")); err == nil {
		os.WriteFile(filepath.Join(conf, "10-x.conflist"), []byte(`{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"bridge"}]}`), 0o644)
		if err := m.Status(); err != nil {
			t.Errorf("good config: %v", err)
		}
	}
	// Without a config, Setup gives loopback only.
	os.RemoveAll(conf)
	if a, err := m.Setup(context.Background(), Pod{ID: "p"}); a != nil || err != nil {
		t.Errorf("Setup without config: %v %v", a, err)
	}
}

// TestSetupHandoffRemove: ADD gives eth0 an address in the namespace;
// Handoff returns a packet socket on eth0 and leaves eth0 without
// addresses or routes; Remove runs DEL (the veth and the host-local
// reservation go) and deletes the namespace; a second Remove is fine.
func TestSetupHandoffRemove(t *testing.T) {
	needCNI(t)
	c := writeConf(t, 201, false)
	root := t.TempDir()
	m, err := New(Options{ConfDir: c.Dir, BinDirs: []string{pluginDir}, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Status(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	a, err := m.Setup(ctx, Pod{ID: "podsetup1", Name: "n", Namespace: "ns", UID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("namespace + CNI ADD: %v", time.Since(t0))
	t.Cleanup(func() { m.Remove(context.Background(), "podsetup1") })
	if len(a.IPs) != 1 || !c.Subnet.Contains(net.ParseIP(a.PodIPs()[0])) {
		t.Fatalf("IPs %v", a.IPs)
	}
	if !isNetNS(a.NetNS) {
		t.Fatalf("%s is not a namespace", a.NetNS)
	}
	if got, _ := m.Attachment("podsetup1"); got == nil || !got.Added || got.IPs[0] != a.IPs[0] {
		t.Errorf("record %+v", got)
	}
	reserved := filepath.Join(c.DataDir, c.Name, a.PodIPs()[0])
	if _, err := os.Stat(reserved); err != nil {
		t.Errorf("host-local reservation: %v", err)
	}

	f, req, err := m.Handoff(a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if req.Name != "eth0" || len(req.MAC) != 17 || req.MTU == 0 {
		t.Errorf("request %+v", req)
	}
	if !contains(req.Addresses, a.IPs[0]) {
		t.Errorf("addresses %v, want %s", req.Addresses, a.IPs[0])
	}
	var def bool
	for _, r := range req.Routes {
		if r.Destination == "0.0.0.0/0" && r.Gateway != "" {
			def = true
		}
	}
	if !def {
		t.Errorf("no default route in %+v", req.Routes)
	}
	sa, err := unix.Getsockname(int(f.Fd()))
	if ll, ok := sa.(*unix.SockaddrLinklayer); !ok || err != nil || ll.Ifindex == 0 {
		t.Errorf("packet socket: %#v %v", sa, err)
	}
	// The host kernel keeps nothing of the pod's address.
	inNetNS(a.NetNS, func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			t.Error(err)
			return nil
		}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_ALL)
		routes, _ := netlink.RouteList(l, netlink.FAMILY_ALL)
		if len(addrs) != 0 || len(routes) != 0 {
			t.Errorf("eth0 still has %v %v", addrs, routes)
		}
		return nil
	})

	var hostVeth string
	for _, ifc := range resultInterfaces(t, a) {
		if ifc != c.Bridge && ifc != "eth0" {
			hostVeth = ifc
		}
	}
	if err := m.Remove(ctx, "podsetup1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.NetNS); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace left: %v", err)
	}
	if _, err := os.Stat(reserved); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("host-local reservation left: %v", err)
	}
	if _, err := netlink.LinkByName(hostVeth); hostVeth == "" || err == nil {
		t.Errorf("host veth %q left", hostVeth)
	}
	if got, _ := m.Attachment("podsetup1"); got != nil {
		t.Errorf("record left: %+v", got)
	}
	if err := m.Remove(ctx, "podsetup1"); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

// TestTeardownWithoutNamespace: DEL still runs (and releases the address)
// when the namespace is gone.
func TestTeardownWithoutNamespace(t *testing.T) {
	needCNI(t)
	c := writeConf(t, 202, false)
	m, err := New(Options{ConfDir: c.Dir, BinDirs: []string{pluginDir}, Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := m.Setup(ctx, Pod{ID: "podgone1", Name: "n", Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	removeNetNS(a.NetNS)
	if err := m.Teardown(ctx, "podgone1"); err != nil {
		t.Fatalf("DEL without namespace: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, c.Name, a.PodIPs()[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("address not released: %v", err)
	}
	if err := m.Teardown(ctx, "podgone1"); err != nil {
		t.Errorf("second DEL: %v", err)
	}
	if err := m.Remove(ctx, "podgone1"); err != nil {
		t.Error(err)
	}
}

// TestSetupFailureRollsBack: a failing plugin leaves no namespace, record
// or address behind.
func TestSetupFailureRollsBack(t *testing.T) {
	needCNI(t)
	c := writeConf(t, 203, false)
	bad := fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[{"type":"bridge","bridge":%q,"ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.88.203.0/24"}]]}},{"type":"false-plugin"}]}`, c.Name, c.Bridge, c.DataDir)
	os.WriteFile(filepath.Join(c.Dir, "10-test.conflist"), []byte(bad), 0o644)
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "false-plugin"), []byte("#!/bin/sh\n[ \"$CNI_COMMAND\" = DEL ] && exit 0\necho '{\"code\":100,\"msg\":\"refused on purpose\"}'; exit 1\n"), 0o755)
	root := t.TempDir()
	m, err := New(Options{ConfDir: c.Dir, BinDirs: []string{pluginDir, bin}, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Setup(context.Background(), Pod{ID: "podfail1"})
	if err == nil || !strings.Contains(err.Error(), "refused on purpose") {
		t.Fatalf("Setup: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(root, "netns")); len(left) != 0 {
		t.Errorf("namespaces left: %v", left)
	}
	if _, err := os.Stat(m.recordPath("podfail1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record left: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(c.DataDir, c.Name)); len(ents) > 2 { // last_reserved_ip.0, lock
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("host-local state left: %v", names)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// resultInterfaces names the interfaces of a's CNI result.
func resultInterfaces(t *testing.T, a *Attachment) []string {
	var r struct {
		Interfaces []struct {
			Name string `json:"name"`
		} `json:"interfaces"`
	}
	if err := json.Unmarshal(a.Result, &r); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range r.Interfaces {
		out = append(out, i.Name)
	}
	return out
}

// TestCapabilityArgs: portMappings, dns and bandwidth (from the
// kubernetes.io/{ingress,egress}-bandwidth annotations, in bits per
// second) as the plugins' runtimeConfig expects them; absent ones are
// left out.
func TestCapabilityArgs(t *testing.T) {
	got := capabilityArgs(Pod{
		PortMappings: []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: "127.0.0.1"}},
		DNS:          &DNS{Servers: []string{"10.0.0.10"}, Searches: []string{"svc"}, Options: []string{"ndots:5"}},
		Annotations:  map[string]string{"kubernetes.io/ingress-bandwidth": "10M", "kubernetes.io/egress-bandwidth": "1Gi", "other": "x"},
	})
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"bandwidth":{"egressBurst":2147483647,"egressRate":1073741824,"ingressBurst":2147483647,"ingressRate":10000000},` +
		`"dns":{"servers":["10.0.0.10"],"searches":["svc"],"options":["ndots:5"]},` +
		`"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":"127.0.0.1"}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if got := capabilityArgs(Pod{DNS: &DNS{}, Annotations: map[string]string{"kubernetes.io/ingress-bandwidth": "bogus"}}); len(got) != 0 {
		t.Errorf("empty pod: %v", got)
	}
}

// TestSingleConf: a lone .conf (no plugin list) works too, and DEL uses
// the configuration recorded at ADD even when the config dir changed.
func TestSingleConf(t *testing.T) {
	needCNI(t)
	c := writeConf(t, 204, false)
	os.Remove(filepath.Join(c.Dir, "10-test.conflist"))
	conf := fmt.Sprintf(`{"cniVersion": "0.4.0", "name": %q, "type": "bridge", "bridge": %q, "isGateway": true,
	  "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": "10.88.204.0/24"}]]}}`, c.Name, c.Bridge, c.DataDir)
	os.WriteFile(filepath.Join(c.Dir, "10-single.conf"), []byte(conf), 0o644)
	m, err := New(Options{ConfDir: c.Dir, BinDirs: []string{pluginDir}, Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Status(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := m.Setup(ctx, Pod{ID: "single1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.IPs) != 1 || !strings.HasPrefix(a.IPs[0], "10.88.204.") {
		t.Errorf("IPs %v", a.IPs)
	}
	os.Remove(filepath.Join(c.Dir, "10-single.conf"))
	if err := m.Remove(ctx, "single1"); err != nil {
		t.Fatalf("Remove with the config gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, c.Name, a.PodIPs()[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("address not released: %v", err)
	}
}
