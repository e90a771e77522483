package inet

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// packetPair returns a NIC socket (for the stack) and its peer (the
// "wire"): a datagram socket pair carries whole Ethernet frames as a
// packet socket does.
func packetPair(t *testing.T) (*os.File, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	return os.NewFile(uintptr(fds[0]), "nic"), fds[1]
}

var (
	podMAC  = tcpip.LinkAddress("\x02\x42\x0a\x63\x00\x05")
	peerMAC = []byte{0x02, 0x42, 0x0a, 0x63, 0x00, 0x01}
)

func TestAddPacketNICAnswersARP(t *testing.T) {
	e := newEnv(t)
	st := StackFor(e.v)
	f, wire := packetPair(t)
	pod := tcpip.AddrFrom4([4]byte{10, 99, 0, 5})
	gw := tcpip.AddrFrom4([4]byte{10, 99, 0, 1})
	sub := tcpip.AddressWithPrefix{Address: pod, PrefixLen: 24}
	err := st.AddPacketNIC(PacketNIC{
		Name: "eth0", File: f, MAC: podMAC, MTU: 1400,
		Addresses: []tcpip.AddressWithPrefix{sub},
		Routes: []tcpip.Route{
			{Destination: sub.Subnet()},
			{Destination: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{}), PrefixLen: 0}.Subnet(), Gateway: gw},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddPacketNIC(PacketNIC{Name: "eth0", File: f, MAC: podMAC}); err != unix.EEXIST {
		t.Errorf("second eth0: %v, want EEXIST", err)
	}
	if err := st.AddPacketNIC(PacketNIC{Name: "eth1", File: f, MAC: "short"}); err != unix.EINVAL {
		t.Errorf("bad MAC: %v, want EINVAL", err)
	}

	ifcs, err := st.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, ifc := range ifcs {
		if ifc.Name == "eth0" {
			found = true
			if ifc.Index != int32(FirstPodNIC) || ifc.MTU != 1400 || len(ifc.Addrs) == 0 || ifc.Addrs[0] != sub {
				t.Errorf("eth0 = %+v", ifc)
			}
		}
	}
	if !found {
		t.Fatalf("no eth0 in %+v", ifcs)
	}

	// SIOCGIFCONF lists eth0 with its address after lo.
	hdr := make([]byte, ifconfSize)
	binary.LittleEndian.PutUint32(hdr, 10*ifreqSize)
	binary.LittleEndian.PutUint64(hdr[8:], 600)
	e.ctx.mem[500] = hdr
	if err := st.ifconf(e.ctx, 500); err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint32(e.ctx.mem[500]); n != 2*ifreqSize {
		t.Errorf("SIOCGIFCONF length %d, want 2 entries", n)
	} else if r := e.ctx.mem[600][ifreqSize:]; ifName(r) != "eth0" || !bytes.Equal(r[20:24], []byte{10, 99, 0, 5}) {
		t.Errorf("SIOCGIFCONF second entry % x", r)
	}

	// An ARP request for the pod's address from the "bridge".
	req := make([]byte, 42)
	copy(req[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(req[6:12], peerMAC)
	binary.BigEndian.PutUint16(req[12:], unix.ETH_P_ARP)
	binary.BigEndian.PutUint16(req[14:], 1)      // Ethernet
	binary.BigEndian.PutUint16(req[16:], 0x0800) // IPv4
	req[18], req[19] = 6, 4
	binary.BigEndian.PutUint16(req[20:], 1) // request
	copy(req[22:28], peerMAC)
	copy(req[28:32], []byte{10, 99, 0, 1})
	copy(req[38:42], []byte{10, 99, 0, 5})
	if _, err := unix.Write(wire, req); err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptTimeval(wire, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
	buf := make([]byte, 2048)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, err := unix.Read(wire, buf)
		if err != nil {
			t.Fatalf("no ARP reply: %v", err)
		}
		fr := buf[:n]
		if n < 42 || binary.BigEndian.Uint16(fr[12:]) != unix.ETH_P_ARP || binary.BigEndian.Uint16(fr[20:]) != 2 {
			continue // the stack's own solicitations
		}
		if !bytes.Equal(fr[0:6], peerMAC) || string(fr[22:28]) != string(podMAC) || !bytes.Equal(fr[28:32], []byte{10, 99, 0, 5}) {
			t.Errorf("ARP reply % x", fr)
		}
		return
	}
	t.Fatal("no ARP reply")
}
