package inet

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/runsc-cri/runsc-cri/sentry/socket"
)

// ipControls turns what netstack reports with a datagram (for the
// IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT
// and IPV6_RECVTCLASS options the socket has on) into control messages in
// Linux's wire form and order (ip_cmsg_recv, ip6_datagram_recv_ctl).
func ipControls(cm *tcpip.ReceivableControlMessages) []socket.RawControl {
	var out []socket.RawControl
	le := binary.LittleEndian
	if cm.HasIPPacketInfo {
		// struct in_pktinfo: ipi_ifindex, ipi_spec_dst, ipi_addr.
		b := make([]byte, 12)
		le.PutUint32(b[0:], uint32(cm.PacketInfo.NIC))
		copy(b[4:8], cm.PacketInfo.LocalAddr.AsSlice())
		copy(b[8:12], cm.PacketInfo.DestinationAddr.AsSlice())
		out = append(out, socket.RawControl{Level: unix.SOL_IP, Type: unix.IP_PKTINFO, Data: b})
	}
	if cm.HasTTL {
		out = append(out, socket.RawControl{Level: unix.SOL_IP, Type: unix.IP_TTL, Data: socket.Int32Val(int32(cm.TTL))})
	}
	if cm.HasTOS {
		out = append(out, socket.RawControl{Level: unix.SOL_IP, Type: unix.IP_TOS, Data: []byte{cm.TOS}})
	}
	if cm.HasIPv6PacketInfo {
		// struct in6_pktinfo: ipi6_addr, ipi6_ifindex.
		b := make([]byte, 20)
		copy(b[0:16], cm.IPv6PacketInfo.Addr.AsSlice())
		le.PutUint32(b[16:], uint32(cm.IPv6PacketInfo.NIC))
		out = append(out, socket.RawControl{Level: unix.SOL_IPV6, Type: unix.IPV6_PKTINFO, Data: b})
	}
	if cm.HasHopLimit {
		out = append(out, socket.RawControl{Level: unix.SOL_IPV6, Type: unix.IPV6_HOPLIMIT, Data: socket.Int32Val(int32(cm.HopLimit))})
	}
	if cm.HasTClass {
		out = append(out, socket.RawControl{Level: unix.SOL_IPV6, Type: unix.IPV6_TCLASS, Data: socket.Int32Val(int32(cm.TClass))})
	}
	return out
}
