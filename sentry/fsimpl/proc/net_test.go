package proc

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/runsc-cri/runsc-cri/sentry/socket/inet"
)

// The expected lines are Linux's (6.x) for the same sockets, with the
// kernel pointer zeroed and the UDP hash slot replaced by a sequence
// number.
func TestFormatNetSockets(t *testing.T) {
	tcp := formatNetSockets(unix.AF_INET, unix.IPPROTO_TCP, []inet.SocketInfo{{
		Family: unix.AF_INET, Protocol: unix.IPPROTO_TCP, LocalAddr: []byte{127, 0, 0, 1}, LocalPort: 8080,
		RemoteAddr: []byte{0, 0, 0, 0}, State: 10, Inode: 1060185,
	}})
	want := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n" +
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1060185 1 0000000000000000 100 0 0 10 0                   \n"
	if tcp != want {
		t.Errorf("/proc/net/tcp:\n%q\nwant\n%q", tcp, want)
	}
	udp := formatNetSockets(unix.AF_INET, unix.IPPROTO_UDP, []inet.SocketInfo{{
		Family: unix.AF_INET, Protocol: unix.IPPROTO_UDP, LocalAddr: []byte{127, 0, 0, 1}, LocalPort: 5353,
		RemoteAddr: []byte{0, 0, 0, 0}, State: 7, Inode: 1060186,
	}})
	want = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n" +
		"    0: 0100007F:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1060186 2 0000000000000000 0       \n"
	if udp != want {
		t.Errorf("/proc/net/udp:\n%q\nwant\n%q", udp, want)
	}
	six := formatNetSockets(unix.AF_INET6, unix.IPPROTO_TCP, []inet.SocketInfo{{
		Family: unix.AF_INET6, Protocol: unix.IPPROTO_TCP, LocalAddr: append(make([]byte, 15), 1), LocalPort: 9999,
		RemoteAddr: make([]byte, 16), State: 10, UID: 1000, Inode: 7,
	}})
	if !strings.Contains(six, "   0: 00000000000000000000000001000000:270F 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 7 1 ") {
		t.Errorf("/proc/net/tcp6:\n%s", six)
	}
}

func TestFormatNetDev(t *testing.T) {
	got := formatNetDev([]inet.Interface{{Name: "lo", RxBytes: 1067842034, RxPackets: 116409, TxBytes: 1067842034, TxPackets: 116409}})
	want := "    lo: 1067842034  116409    0    0    0     0          0         0 1067842034  116409    0    0    0     0       0          0\n"
	if !strings.HasSuffix(got, want) || !strings.HasPrefix(got, "Inter-|   Receive ") {
		t.Errorf("/proc/net/dev:\n%q\nwant the line\n%q", got, want)
	}
}

func TestFormatIfInet6AndRoute(t *testing.T) {
	lo := inet.Interface{Index: 1, Name: "lo", Addrs: []tcpip.AddressWithPrefix{
		{Address: tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), PrefixLen: 8},
		{Address: tcpip.AddrFrom16([16]byte{15: 1}), PrefixLen: 128},
	}}
	if got, want := formatIfInet6([]inet.Interface{lo}), "00000000000000000000000000000001 01 80 10 80       lo\n"; got != want {
		t.Errorf("if_inet6: %q, want %q", got, want)
	}
	got := formatNetRoute([]inet.RouteInfo{
		{Iface: "eth0", Dst: []byte{0, 0, 0, 0}, Mask: []byte{0, 0, 0, 0}, Gateway: []byte{192, 0, 2, 1}},
		{Iface: "eth0", Dst: []byte{192, 0, 2, 0}, Mask: []byte{255, 255, 255, 0}, Gateway: []byte{0, 0, 0, 0}, PrefixLen: 24},
	})
	// Linux's lines for the same routes.
	want := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       \n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0                                                                               \n" +
		"eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0                                                                               \n"
	if got != want {
		t.Errorf("route:\n%q\nwant\n%q", got, want)
	}
}
