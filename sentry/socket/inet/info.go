package inet

import (
	"sort"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// SocketInfo is what /proc/net/{tcp,tcp6,udp,udp6} report of one socket.
type SocketInfo struct {
	Family   int // AF_INET, AF_INET6
	Protocol int // IPPROTO_TCP, IPPROTO_UDP, ...
	// LocalAddr and RemoteAddr are 4 or 16 bytes (an IPv4 address of an
	// AF_INET6 socket comes v4-mapped); all zero when unset.
	LocalAddr, RemoteAddr []byte
	LocalPort, RemotePort uint16
	// State is Linux's TCP state number (TCP_ESTABLISHED = 1 ...
	// TCP_LISTEN = 10); UDP sockets are 1 when connected, 7 otherwise.
	State            int
	TxQueue, RxQueue int
	UID              uint32
	Inode            uint64
}

// register and unregister keep the stack's list of open sockets.
func (st *Stack) register(s *sock) {
	st.sockMu.Lock()
	if st.socks == nil {
		st.socks = map[*sock]struct{}{}
	}
	st.socks[s] = struct{}{}
	st.sockMu.Unlock()
}

func (st *Stack) unregister(s *sock) {
	st.sockMu.Lock()
	delete(st.socks, s)
	st.sockMu.Unlock()
}

// Sockets lists the open sockets of protocol (IPPROTO_TCP or
// IPPROTO_UDP) and family that Linux would list in /proc/net: TCP
// sockets that listen or have a connection, UDP sockets that are bound.
// They are sorted by inode.
func (st *Stack) Sockets(family, protocol int) []SocketInfo {
	st.sockMu.Lock()
	var socks []*sock
	for s := range st.socks {
		if s.family == family && s.protocol == protocol && s.stype != unix.SOCK_RAW {
			socks = append(socks, s)
		}
	}
	st.sockMu.Unlock()
	var out []SocketInfo
	for _, s := range socks {
		if si, ok := s.info(); ok {
			out = append(out, si)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Inode < out[j].Inode })
	return out
}

func addrBytes(family int, a tcpip.Address) []byte {
	if family == unix.AF_INET {
		if a.Len() == 4 {
			v := a.As4()
			return v[:]
		}
		return make([]byte, 4)
	}
	switch a.Len() {
	case 4:
		v := a.As4()
		return append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, v[:]...)
	case 16:
		v := a.As16()
		return v[:]
	}
	return make([]byte, 16)
}

func (s *sock) info() (SocketInfo, bool) {
	si := SocketInfo{Family: s.family, Protocol: s.protocol, UID: s.uid, Inode: s.ino}
	local, _ := s.ep.GetLocalAddress()
	remote, rerr := s.ep.GetRemoteAddress()
	si.LocalAddr, si.LocalPort = addrBytes(s.family, local.Addr), local.Port
	if rerr == nil {
		si.RemoteAddr, si.RemotePort = addrBytes(s.family, remote.Addr), remote.Port
	} else {
		si.RemoteAddr = addrBytes(s.family, tcpip.Address{})
	}
	if v, err := s.ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption); err == nil {
		si.RxQueue = v
	}
	if v, err := s.ep.GetSockOptInt(tcpip.SendQueueSizeOption); err == nil {
		si.TxQueue = v
	}
	if s.stype == unix.SOCK_STREAM {
		st := tcp.EndpointState(s.ep.State())
		switch st {
		case tcp.StateInitial, tcp.StateBound, tcp.StateClose, tcp.StateError:
			return si, false
		case tcp.StateConnecting:
			si.State = 2 // TCP_SYN_SENT
		default:
			si.State = int(st) // netstack's public states are Linux's numbers
		}
		return si, true
	}
	if local.Port == 0 {
		return si, false
	}
	si.State = 7 // TCP_CLOSE
	if rerr == nil {
		si.State = 1 // TCP_ESTABLISHED
	}
	return si, true
}

// RouteInfo is one route of the pod's main table (/proc/net/route,
// RTM_GETROUTE): routes through lo are Linux's local table and are left
// out.
type RouteInfo struct {
	Iface string
	Index int32
	// Dst, Mask and Gateway are 4 or 16 bytes; Gateway is all zero for
	// a directly connected subnet.
	Dst, Mask, Gateway []byte
	PrefixLen          int
	MTU                uint32
}

// Routes returns the main-table routes of family (AF_INET, AF_INET6).
func (st *Stack) Routes(family int) ([]RouteInfo, error) {
	ns, err := st.Netstack()
	if err != nil {
		return nil, err
	}
	names := map[tcpip.NICID]string{}
	for id, info := range ns.NICInfo() {
		names[id] = info.Name
	}
	var out []RouteInfo
	for _, r := range ns.GetRouteTable() {
		if r.NIC == LoopbackNIC {
			continue
		}
		id := r.Destination.ID()
		if (id.Len() == 4) != (family == unix.AF_INET) {
			continue
		}
		ri := RouteInfo{Iface: names[r.NIC], Index: int32(r.NIC), Dst: id.AsSlice(), PrefixLen: r.Destination.Prefix(), MTU: r.MTU}
		ri.Mask = maskBytes(id.Len(), ri.PrefixLen)
		if r.Gateway.Len() > 0 {
			ri.Gateway = r.Gateway.AsSlice()
		} else {
			ri.Gateway = make([]byte, id.Len())
		}
		out = append(out, ri)
	}
	return out, nil
}

func maskBytes(n, prefix int) []byte {
	m := make([]byte, n)
	for i := 0; i < n && prefix > 0; i++ {
		b := min(prefix, 8)
		m[i] = byte(0xff << (8 - b))
		prefix -= b
	}
	return m
}
