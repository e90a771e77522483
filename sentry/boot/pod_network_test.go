package boot

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/runsc-cri/runsc-cri/sentry/control"
)

func TestPacketNICFromRequest(t *testing.T) {
	n, err := packetNIC(&control.ConfigureNetworkRequest{
		Name: "eth0", MAC: "0a:58:0a:58:00:05", MTU: 1450,
		Addresses: []string{"10.88.0.5/24", "fd00::5/64"},
		Routes: []control.Route{
			{Destination: "10.88.0.0/24"},
			{Destination: "0.0.0.0/0", Gateway: "10.88.0.1"},
			{Destination: "::/0", Gateway: "fd00::1"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n.MAC != tcpip.LinkAddress("\x0a\x58\x0a\x58\x00\x05") || n.MTU != 1450 || len(n.Addresses) != 2 || len(n.Routes) != 3 {
		t.Fatalf("%+v", n)
	}
	if a := n.Addresses[0]; a.Address != tcpip.AddrFrom4([4]byte{10, 88, 0, 5}) || a.PrefixLen != 24 {
		t.Errorf("address %v", a)
	}
	if r := n.Routes[1]; r.Destination.Prefix() != 0 || r.Gateway != tcpip.AddrFrom4([4]byte{10, 88, 0, 1}) {
		t.Errorf("default route %v", r)
	}
	if r := n.Routes[2]; r.Destination.Prefix() != 0 || r.Gateway.Len() != 16 {
		t.Errorf("IPv6 default route %v", r)
	}
	for _, bad := range []control.ConfigureNetworkRequest{
		{Name: "eth0", MAC: "nope"},
		{Name: "eth0", MAC: "0a:58:0a:58:00:05", Addresses: []string{"10.88.0.5"}},
		{Name: "eth0", MAC: "0a:58:0a:58:00:05", Routes: []control.Route{{Destination: "0.0.0.0/0", Gateway: "fd00::1"}}},
		{Name: "eth0", MAC: "0a:58:0a:58:00:05", Index: 1},
	} {
		if _, err := packetNIC(&bad); !errors.Is(err, unix.EINVAL) {
			t.Errorf("%+v: %v, want EINVAL", bad, err)
		}
	}
}

// TestConfigureNetworkTakesOnlyPacketSockets: a pipe or a unix socket is
// refused before anything is built.
func TestConfigureNetworkTakesOnlyPacketSockets(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := checkPacketSocket(r); !errors.Is(err, unix.ENOTSOCK) {
		t.Errorf("pipe: %v", err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "unix")
	defer f.Close()
	defer unix.Close(fds[1])
	if err := checkPacketSocket(f); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unix socket: %v", err)
	}
	var p Pod
	if err := p.configureNetwork(&control.ConfigureNetworkRequest{Name: "eth0"}, nil); !errors.Is(err, unix.EBADF) {
		t.Errorf("no fd: %v", err)
	}
}
