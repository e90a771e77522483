package inet

import (
	"encoding/binary"
	"sort"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// struct ifreq is 40 bytes: ifr_name[16] and a 24-byte union; struct
// ifconf is {int ifc_len; char *ifc_buf} (16 bytes with padding).
const (
	ifreqSize  = 40
	ifNameSize = 16
	ifconfSize = 16
)

// Interface is what the interface ioctls (and later /proc/net) report of
// one NIC.
type Interface struct {
	Index int32
	Name  string
	Flags uint32 // IFF_*
	MTU   uint32
	// ARPType is the ARPHRD_* hardware type.
	ARPType uint16
	// HardwareAddr is the link address (6 zero bytes for lo).
	HardwareAddr []byte
	// Addrs are the NIC's addresses (IPv4 and IPv6).
	Addrs []tcpip.AddressWithPrefix
	// Counters for /proc/net/dev.
	RxBytes, RxPackets, TxBytes, TxPackets uint64
}

// Interfaces returns the pod's NICs, by index.
func (st *Stack) Interfaces() ([]Interface, error) {
	s, err := st.Netstack()
	if err != nil {
		return nil, err
	}
	var out []Interface
	for id, info := range s.NICInfo() {
		ifc := Interface{Index: int32(id), Name: info.Name, MTU: info.MTU, ARPType: uint16(info.ARPHardwareType)}
		ifc.HardwareAddr = []byte(info.LinkAddress)
		if len(ifc.HardwareAddr) == 0 {
			ifc.HardwareAddr = make([]byte, 6)
		}
		if c := info.Stats.Rx.Bytes; c != nil {
			ifc.RxBytes, ifc.RxPackets = c.Value(), info.Stats.Rx.Packets.Value()
		}
		if c := info.Stats.Tx.Bytes; c != nil {
			ifc.TxBytes, ifc.TxPackets = c.Value(), info.Stats.Tx.Packets.Value()
		}
		// netstack calls every NIC up; an enabled one (Running) is what
		// Linux calls up and running, a disabled one (a new bridge) is down.
		if info.Flags.Running {
			ifc.Flags |= unix.IFF_UP | unix.IFF_RUNNING | unix.IFF_LOWER_UP
		}
		if info.Flags.Loopback {
			ifc.Flags |= unix.IFF_LOOPBACK
			ifc.ARPType = unix.ARPHRD_LOOPBACK
		}
		if info.Flags.Promiscuous {
			ifc.Flags |= unix.IFF_PROMISC
		}
		for _, a := range info.ProtocolAddresses {
			ifc.Addrs = append(ifc.Addrs, a.AddressWithPrefix)
		}
		out = append(out, ifc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

// Ioctl implements vfs.FileImpl: FIONREAD (SIOCINQ), TIOCOUTQ (SIOCOUTQ)
// and the interface ioctls (InterfaceIoctl).
func (s *sock) Ioctl(ctx vfs.IoctlContext, fd *vfs.FileDescription, cmd uint32, arg uintptr) (uintptr, error) {
	switch cmd {
	case linux.FIONREAD, linux.TIOCOUTQ:
		if s.isStream() && s.ep.SocketOptions().GetAcceptConn() {
			return 0, unix.EINVAL
		}
		o := tcpip.ReceiveQueueSizeOption
		if cmd == linux.TIOCOUTQ {
			o = tcpip.SendQueueSizeOption
		}
		v, err := s.ep.GetSockOptInt(o)
		if err != nil {
			v = 0
		}
		if _, err := ctx.CopyOut(arg, socket.Int32Val(int32(min(v, 1<<31-1)))); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	}
	return s.st.InterfaceIoctl(ctx, cmd, arg)
}

// InterfaceIoctl answers the interface ioctls, which Linux accepts on a
// socket of any family (glibc's if_nametoindex uses an AF_UNIX socket):
// SIOCGIFCONF, SIOCGIFFLAGS, SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFADDR,
// SIOCGIFNETMASK, SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFTXQLEN. Changes
// (SIOCSIF*, SIOCADDRT...) answer EPERM without CAP_NET_ADMIN and
// EOPNOTSUPP with it: the pod's interfaces are configured by the runtime;
// bridges may be made and removed (SIOCBRADDBR/SIOCBRDELBR, bridge.go).
// Other commands answer ENOTTY.
func (st *Stack) InterfaceIoctl(ctx vfs.IoctlContext, cmd uint32, arg uintptr) (uintptr, error) {
	switch cmd {
	case unix.SIOCGIFCONF:
		return 0, st.ifconf(ctx, arg)
	case unix.SIOCBRADDBR, unix.SIOCBRDELBR:
		return 0, st.bridgeIoctl(ctx, cmd, arg)
	case unix.SIOCGIFFLAGS, unix.SIOCGIFINDEX, unix.SIOCGIFNAME, unix.SIOCGIFADDR,
		unix.SIOCGIFNETMASK, unix.SIOCGIFMTU, unix.SIOCGIFHWADDR, unix.SIOCGIFTXQLEN:
		return 0, st.ifreq(ctx, cmd, arg)
	case unix.SIOCSIFFLAGS, unix.SIOCSIFADDR, unix.SIOCSIFNETMASK, unix.SIOCSIFMTU, unix.SIOCSIFHWADDR,
		unix.SIOCSIFTXQLEN, unix.SIOCSIFNAME, unix.SIOCSIFBRDADDR, unix.SIOCSIFDSTADDR,
		unix.SIOCADDRT, unix.SIOCDELRT, unix.SIOCDIFADDR:
		if !ctx.Credentials().HasCapability(capNetAdmin) {
			return 0, unix.EPERM
		}
		return 0, unix.EOPNOTSUPP
	}
	return 0, unix.ENOTTY
}

func ifName(b []byte) string {
	n := 0
	for n < ifNameSize && b[n] != 0 {
		n++
	}
	return string(b[:n])
}

func putSockaddrIn(b []byte, a tcpip.Address) {
	binary.LittleEndian.PutUint16(b, unix.AF_INET)
	v := a.As4()
	copy(b[4:8], v[:])
}

// firstV4 returns the NIC's first IPv4 address.
func firstV4(ifc Interface) (tcpip.AddressWithPrefix, bool) {
	for _, a := range ifc.Addrs {
		if a.Address.Len() == 4 {
			return a, true
		}
	}
	return tcpip.AddressWithPrefix{}, false
}

func (st *Stack) ifreq(ctx vfs.IoctlContext, cmd uint32, arg uintptr) error {
	req := make([]byte, ifreqSize)
	if _, err := ctx.CopyIn(arg, req); err != nil {
		return unix.EFAULT
	}
	ifcs, err := st.Interfaces()
	if err != nil {
		return err
	}
	var ifc *Interface
	for i := range ifcs {
		if cmd == unix.SIOCGIFNAME {
			if ifcs[i].Index == int32(binary.LittleEndian.Uint32(req[16:])) {
				ifc = &ifcs[i]
			}
		} else if ifcs[i].Name == ifName(req) {
			ifc = &ifcs[i]
		}
	}
	if ifc == nil {
		return unix.ENODEV
	}
	u := req[16:]
	clear(u)
	switch cmd {
	case unix.SIOCGIFFLAGS:
		binary.LittleEndian.PutUint16(u, uint16(ifc.Flags))
	case unix.SIOCGIFINDEX:
		binary.LittleEndian.PutUint32(u, uint32(ifc.Index))
	case unix.SIOCGIFNAME:
		clear(req[:ifNameSize])
		copy(req[:ifNameSize-1], ifc.Name)
		binary.LittleEndian.PutUint32(u, uint32(ifc.Index))
	case unix.SIOCGIFADDR, unix.SIOCGIFNETMASK:
		a, ok := firstV4(*ifc)
		if !ok {
			return unix.EADDRNOTAVAIL
		}
		if cmd == unix.SIOCGIFADDR {
			putSockaddrIn(u, a.Address)
		} else {
			var m [4]byte
			binary.BigEndian.PutUint32(m[:], ^uint32(0)<<(32-min(a.PrefixLen, 32)))
			if a.PrefixLen == 0 {
				m = [4]byte{}
			}
			putSockaddrIn(u, tcpip.AddrFrom4(m))
		}
	case unix.SIOCGIFMTU:
		binary.LittleEndian.PutUint32(u, ifc.MTU)
	case unix.SIOCGIFHWADDR:
		binary.LittleEndian.PutUint16(u, ifc.ARPType)
		copy(u[2:16], ifc.HardwareAddr)
	case unix.SIOCGIFTXQLEN:
		binary.LittleEndian.PutUint32(u, loopbackTxQLen)
	}
	if _, err := ctx.CopyOut(arg, req); err != nil {
		return unix.EFAULT
	}
	return nil
}

// ifconf implements SIOCGIFCONF: one struct ifreq per IPv4 address; a NULL
// buffer asks for the length needed.
func (st *Stack) ifconf(ctx vfs.IoctlContext, arg uintptr) error {
	hdr := make([]byte, ifconfSize)
	if _, err := ctx.CopyIn(arg, hdr); err != nil {
		return unix.EFAULT
	}
	space := int32(binary.LittleEndian.Uint32(hdr))
	buf := uintptr(binary.LittleEndian.Uint64(hdr[8:]))
	ifcs, err := st.Interfaces()
	if err != nil {
		return err
	}
	var out []byte
	for _, ifc := range ifcs {
		for _, a := range ifc.Addrs {
			if a.Address.Len() != 4 {
				continue
			}
			r := make([]byte, ifreqSize)
			copy(r[:ifNameSize-1], ifc.Name)
			putSockaddrIn(r[16:], a.Address)
			out = append(out, r...)
		}
	}
	if buf != 0 {
		n := (max(int(space), 0) / ifreqSize) * ifreqSize
		out = out[:min(n, len(out))]
		if len(out) > 0 {
			if _, err := ctx.CopyOut(buf, out); err != nil {
				return unix.EFAULT
			}
		}
	}
	binary.LittleEndian.PutUint32(hdr, uint32(len(out)))
	if _, err := ctx.CopyOut(arg, hdr); err != nil {
		return unix.EFAULT
	}
	return nil
}
