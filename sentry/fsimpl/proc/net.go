package proc

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/socket/inet"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// /proc/net: the pod's network stack (sentry/socket/inet) in Linux's
// formats: dev (interface counters), if_inet6 (IPv6 addresses), route
// (the main IPv4 table), tcp, tcp6, udp, udp6 (open sockets).
// The sandbox has one network namespace, so /proc/net is a directory of
// its own rather than Linux's link to self/net.

// netDir builds /proc/net.
func (fs *filesystem) netDir() *dir {
	st := func() *inet.Stack { return inet.StackFor(fs.v) }
	file := func(name string, gen genFunc) entry {
		return fileEntry(name, func() vfs.Inode { return fs.newFile("/net/"+name, 0o444, gen, nil) })
	}
	sockets := func(family, protocol int) genFunc {
		return func(vfs.Context) ([]byte, error) {
			return []byte(formatNetSockets(family, protocol, st().Sockets(family, protocol))), nil
		}
	}
	return fs.newDir("/net", 0o555, []entry{
		file("dev", func(vfs.Context) ([]byte, error) {
			ifcs, err := st().Interfaces()
			if err != nil {
				return nil, err
			}
			return []byte(formatNetDev(ifcs)), nil
		}),
		file("if_inet6", func(vfs.Context) ([]byte, error) {
			ifcs, err := st().Interfaces()
			if err != nil {
				return nil, err
			}
			return []byte(formatIfInet6(ifcs)), nil
		}),
		file("route", func(vfs.Context) ([]byte, error) {
			rs, err := st().Routes(unix.AF_INET)
			if err != nil {
				return nil, err
			}
			return []byte(formatNetRoute(rs)), nil
		}),
		file("tcp", sockets(unix.AF_INET, unix.IPPROTO_TCP)),
		file("tcp6", sockets(unix.AF_INET6, unix.IPPROTO_TCP)),
		file("udp", sockets(unix.AF_INET, unix.IPPROTO_UDP)),
		file("udp6", sockets(unix.AF_INET6, unix.IPPROTO_UDP)),
	})
}

// formatIfInet6 renders /proc/net/if_inet6 (Linux's if6_seq_show):
// address, index, prefix length, scope, flags (IFA_F_PERMANENT), name.
func formatIfInet6(ifcs []inet.Interface) string {
	var b strings.Builder
	for _, i := range ifcs {
		for _, a := range i.Addrs {
			if a.Address.Len() != 16 {
				continue
			}
			v := a.Address.As16()
			scope := 0x00 // global
			switch {
			case v == [16]byte{15: 1}:
				scope = 0x10 // host
			case v[0] == 0xfe && v[1]&0xc0 == 0x80:
				scope = 0x20 // link
			}
			fmt.Fprintf(&b, "%x %02x %02x %02x %02x %8s\n", v[:], i.Index, a.PrefixLen, scope, unix.IFA_F_PERMANENT, i.Name)
		}
	}
	return b.String()
}

// formatNetRoute renders /proc/net/route (Linux's fib_route_seq_show):
// the main table's IPv4 routes, each line padded to 127 characters.
func formatNetRoute(rs []inet.RouteInfo) string {
	var b strings.Builder
	pad := func(s string) { fmt.Fprintf(&b, "%-127s\n", s) }
	pad("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT")
	for _, r := range rs {
		flags := 0x1 // RTF_UP
		if netHexAddr(r.Gateway) != "00000000" {
			flags |= 0x2 // RTF_GATEWAY
		}
		pad(fmt.Sprintf("%s\t%s\t%s\t%04X\t%d\t%d\t%d\t%s\t%d\t%d\t%d",
			r.Iface, netHexAddr(r.Dst), netHexAddr(r.Gateway), flags, 0, 0, 0, netHexAddr(r.Mask), r.MTU, 0, 0))
	}
	return b.String()
}

// formatNetDev renders /proc/net/dev (Linux's dev_seq_show).
func formatNetDev(ifcs []inet.Interface) string {
	var b strings.Builder
	b.WriteString("Inter-|   Receive                                                |  Transmit\n")
	b.WriteString(" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n")
	for _, i := range ifcs {
		fmt.Fprintf(&b, "%6s: %7d %7d %4d %4d %4d %5d %10d %9d %8d %7d %4d %4d %4d %5d %7d %10d\n",
			i.Name, i.RxBytes, i.RxPackets, 0, 0, 0, 0, 0, 0, i.TxBytes, i.TxPackets, 0, 0, 0, 0, 0, 0)
	}
	return b.String()
}

// netHexAddr prints an address as Linux does: each 32-bit word of the
// network-order address printed as a host-order (little-endian) integer.
func netHexAddr(a []byte) string {
	var b strings.Builder
	for i := 0; i+4 <= len(a); i += 4 {
		fmt.Fprintf(&b, "%08X", binary.LittleEndian.Uint32(a[i:]))
	}
	return b.String()
}

// formatNetSockets renders /proc/net/{tcp,tcp6,udp,udp6} (Linux's
// tcp4_seq_show, tcp6_seq_show, udp4_seq_show, udp6_seq_show). Timers,
// retransmits and kernel pointers print as zero.
func formatNetSockets(family, protocol int, socks []inet.SocketInfo) string {
	var b strings.Builder
	udp := protocol == unix.IPPROTO_UDP
	v6 := family == unix.AF_INET6
	pad := func(line string, width int) string {
		if v6 || len(line) >= width {
			return line + "\n"
		}
		return line + strings.Repeat(" ", width-len(line)) + "\n"
	}
	width := 149
	if udp {
		width = 127
	}
	switch {
	case v6:
		b.WriteString("  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode")
		if udp {
			b.WriteString(" ref pointer drops")
		}
		b.WriteString("\n")
	case udp:
		b.WriteString(pad("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops", width))
	default:
		b.WriteString(pad("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode", width))
	}
	for n, s := range socks {
		slot := fmt.Sprintf("%4d", n)
		if udp {
			slot = fmt.Sprintf("%5d", n)
		}
		line := fmt.Sprintf("%s: %s:%04X %s:%04X %02X %08X:%08X %02X:%08X %08X %5d %8d %d",
			slot, netHexAddr(s.LocalAddr), s.LocalPort, netHexAddr(s.RemoteAddr), s.RemotePort, s.State,
			s.TxQueue, s.RxQueue, 0, 0, 0, s.UID, 0, s.Inode)
		if udp {
			line += " 2 0000000000000000 0"
		} else {
			line += " 1 0000000000000000 100 0 0 10 0"
		}
		b.WriteString(pad(line, width))
	}
	return b.String()
}
