package inet

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
)

func TestAddrScope(t *testing.T) {
	eth := Interface{Name: "eth0", Flags: unix.IFF_UP}
	lo := Interface{Name: "lo", Flags: unix.IFF_UP | unix.IFF_LOOPBACK}
	for _, c := range []struct {
		ifc  Interface
		addr tcpip.Address
		want uint8
	}{
		{lo, tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), unix.RT_SCOPE_HOST},
		{lo, tcpip.AddrFrom16([16]byte{15: 1}), unix.RT_SCOPE_HOST},
		{eth, tcpip.AddrFrom4([4]byte{10, 88, 0, 5}), unix.RT_SCOPE_UNIVERSE},
		{eth, tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 1}), unix.RT_SCOPE_LINK},
		{eth, tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0xbf, 15: 1}), unix.RT_SCOPE_LINK},
		{eth, tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0xc0, 15: 1}), unix.RT_SCOPE_UNIVERSE},
		{eth, tcpip.AddrFrom16([16]byte{0: 0xfd, 15: 1}), unix.RT_SCOPE_UNIVERSE},
	} {
		if got := addrScope(c.ifc, c.addr); got != c.want {
			t.Errorf("%s %v: scope %d, want %d", c.ifc.Name, c.addr, got, c.want)
		}
	}
}
