// Package inet implements AF_INET and AF_INET6 sockets inside the sentry
// over gVisor's netstack (gvisor.dev/gvisor/pkg/tcpip) used as a library:
// TCP (SOCK_STREAM), UDP (SOCK_DGRAM), ICMP ping sockets (SOCK_DGRAM with
// IPPROTO_ICMP/IPPROTO_ICMPV6) and raw IP sockets (SOCK_RAW, with
// CAP_NET_RAW). No host socket is ever used: every packet stays in the
// pod's own stack (a pod NIC from CNI, nic.go, is the one exception: a
// host packet socket bound to the pod's own eth0).
//
// Besides the sockets, the package answers for the pod's network as a
// whole: a read-only NETLINK_ROUTE socket (netlink.go: ip link, ip addr,
// ip route, getifaddrs), the interface ioctls (SIOCGIF*, also for other
// socket families through Stack.InterfaceIoctl), the lists /proc/net is
// made from (info.go: Stack.Sockets, Stack.Routes, Stack.Interfaces) and
// the sentry's own connections into the pod for port forwarding
// (dial.go: Stack.DialLoopback).
//
// # The model
//
// A Stack is the network stack of one pod (Linux: one network namespace):
// every container of the pod shares it. It is found through the sandbox's
// VirtualFilesystem (StackFor), like unixsock's abstract namespace, and is
// built lazily, on the first inet socket or the first port-forward, so a
// pod that never touches the network pays nothing for it. It has one NIC
// today, the loopback "lo" (NIC 1, 127.0.0.1/8 and ::1/128); a pod NIC
// configured by CNI comes later through AddNIC (a link endpoint, its
// addresses and routes), which is the one place NICs are added.
//
// A sock is one socket: it owns one tcpip.Endpoint and that endpoint's
// netstack waiter queue. A permanent netstack waiter entry forwards every
// event of the endpoint to the sock's own waiter.Queue (the sentry's), so
// poll, select, epoll and blocking calls wait on sentry queues as they do
// for every other file. The sock is the vfs.FileImpl of its file.
//
// Blocking follows the socket package's contract: vfs paths (read, write,
// poll) never block; SendMsg, RecvMsg, Accept and Connect wait through a
// socket.Blocker, with SO_RCVTIMEO / SO_SNDTIMEO (timeout: EAGAIN; a signal
// with a timeout set: EINTR, without: ERESTARTSYS, as Linux).
//
// netstack's errors (tcpip.Error) become Linux errno values in errno.go;
// nothing else of netstack leaks out of this package except *Stack's
// accessors used by the sentry's boot (port forwarding).
//
// Buffer sizes are kept modest (TCP: 64 KiB send, 128 KiB receive by
// default, up to 4 MiB with SO_SNDBUF/SO_RCVBUF) since queued bytes count
// against the pod's memory.
//
// # Lock order
//
//	Stack.mu (lazy creation and the NIC table; never held while calling
//	  into an endpoint)
//	Stack.sockMu (the list of open sockets; leaf, released before the
//	  sockets are asked anything)
//	netstack's own locks (endpoint, stack), taken inside tcpip calls
//	  waiter.Queue locks (leaf): netstack notifies the bridge entry under
//	  its locks and the bridge calls sentry waiter.Queue.Notify, which
//	  only takes the queue's own lock and signals channels or callbacks.
//
// A sock keeps no lock of its own: its timeouts are atomic
// (socket.TimeoutOpts), everything else is netstack's.
package inet

import (
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/raw"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// LoopbackNIC is the NIC id of "lo" (its interface index, as on Linux).
const LoopbackNIC tcpip.NICID = 1

// Buffer sizes (bytes).
const (
	tcpSndDefault = 64 << 10
	tcpRcvDefault = 128 << 10
	bufMin        = 4 << 10
	bufMax        = 4 << 20
)

// Stack is the network stack of one pod.
type Stack struct {
	// mu guards s and nics.
	mu sync.Mutex
	s  *stack.Stack
	// sysctl returns the sandbox's value of a /proc/sys file (path below
	// /proc/sys); nil: Linux's defaults.
	sysctl func(path string) string

	// sockMu guards socks, the open sockets (for /proc/net); a leaf.
	sockMu sync.Mutex
	socks  map[*sock]struct{}
}

// stacks maps each sandbox's VirtualFilesystem to its Stack.
var stacks sync.Map

// StackFor returns the Stack of the sandbox of v (created on first use;
// the netstack inside it is built lazily).
func StackFor(v *vfs.VirtualFilesystem) *Stack {
	if s, ok := stacks.Load(v); ok {
		return s.(*Stack)
	}
	s, _ := stacks.LoadOrStore(v, &Stack{})
	return s.(*Stack)
}

// Forget drops the Stack of v (closing its endpoints), for tests and
// sandboxes that end inside a long-lived process.
func Forget(v *vfs.VirtualFilesystem) {
	s, ok := stacks.LoadAndDelete(v)
	if !ok {
		return
	}
	st := s.(*Stack)
	st.mu.Lock()
	ns := st.s
	st.s = nil
	st.mu.Unlock()
	if ns != nil {
		ns.Close()
	}
}

// SetSysctls makes the stack follow the sandbox's /proc/sys values: get
// returns the value of a path below /proc/sys ("net/ipv4/ping_group_range"),
// "" when unknown. Read at each use: net.ipv4.ping_group_range,
// net.ipv4.ip_unprivileged_port_start, net.core.somaxconn.
func (st *Stack) SetSysctls(get func(path string) string) {
	st.mu.Lock()
	st.sysctl = get
	st.mu.Unlock()
}

// sysctlInts returns the integer fields of a sysctl, or def when it is
// unset or malformed.
func (st *Stack) sysctlInts(path string, def ...int64) []int64 {
	st.mu.Lock()
	get := st.sysctl
	st.mu.Unlock()
	if get == nil {
		return def
	}
	f := strings.Fields(get(path))
	if len(f) != len(def) {
		return def
	}
	out := make([]int64, len(f))
	for i, w := range f {
		n, err := strconv.ParseInt(w, 10, 64)
		if err != nil {
			return def
		}
		out[i] = n
	}
	return out
}

// pingAllowed applies net.ipv4.ping_group_range (Linux's default "1 0"
// allows nobody).
func (st *Stack) pingAllowed(gid uint32) bool {
	r := st.sysctlInts("net/ipv4/ping_group_range", 1, 0)
	return int64(gid) >= r[0] && int64(gid) <= r[1]
}

// unprivilegedPortStart is net.ipv4.ip_unprivileged_port_start.
func (st *Stack) unprivilegedPortStart() uint16 {
	v := st.sysctlInts("net/ipv4/ip_unprivileged_port_start", 1024)[0]
	return uint16(min(max(v, 0), 65535))
}

// somaxconn is net.core.somaxconn.
func (st *Stack) somaxconn() int {
	return int(min(max(st.sysctlInts("net/core/somaxconn", 4096)[0], 0), 1<<16))
}

// Netstack returns the pod's netstack, building it on first use.
func (st *Stack) Netstack() (*stack.Stack, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.s != nil {
		return st.s, nil
	}
	s, err := newNetstack()
	if err != nil {
		return nil, err
	}
	st.s = s
	return s, nil
}

// Started reports whether the netstack has been built.
func (st *Stack) Started() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.s != nil
}

func newNetstack() (*stack.Stack, error) {
	s := stack.New(stack.Options{
		// ARP serves pod NICs over Ethernet (nic.go); lo needs none.
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		RawFactory:         raw.EndpointFactory{},
		HandleLocal:        true,
	})
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: bufMin, Default: tcpSndDefault, Max: bufMax}
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: bufMin, Default: tcpRcvDefault, Max: bufMax}
	sack := tcpip.TCPSACKEnabled(true)
	// Nagle's algorithm is on by default, as Linux (TCP_NODELAY reads 0).
	delay := tcpip.TCPDelayEnabled(true)
	for _, o := range []tcpip.SettableTransportProtocolOption{&snd, &rcv, &sack, &delay} {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, o); err != nil {
			s.Close()
			return nil, errno(err)
		}
	}
	if err := s.CreateNICWithOptions(LoopbackNIC, loopback.New(), stack.NICOptions{Name: "lo"}); err != nil {
		s.Close()
		return nil, errno(err)
	}
	v4 := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), PrefixLen: 8},
	}
	v6 := tcpip.ProtocolAddress{
		Protocol:          ipv6.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom16([16]byte{15: 1}), PrefixLen: 128},
	}
	for _, a := range []tcpip.ProtocolAddress{v4, v6} {
		if err := s.AddProtocolAddress(LoopbackNIC, a, stack.AddressProperties{}); err != nil {
			s.Close()
			return nil, errno(err)
		}
	}
	s.SetRouteTable([]tcpip.Route{
		{Destination: v4.AddressWithPrefix.Subnet(), NIC: LoopbackNIC},
		{Destination: v6.AddressWithPrefix.Subnet(), NIC: LoopbackNIC},
	})
	return s, nil
}

// NIC describes a network interface to add to the pod's stack.
type NIC struct {
	ID        tcpip.NICID
	Name      string
	Link      stack.LinkEndpoint
	Addresses []tcpip.ProtocolAddress
	Routes    []tcpip.Route
}

// AddNIC adds a network interface (e.g. the pod's eth0 from CNI) with its
// addresses and routes. It is where NICs other than lo come in.
func (st *Stack) AddNIC(n NIC) error {
	s, err := st.Netstack()
	if err != nil {
		return err
	}
	if n.ID == LoopbackNIC || n.Link == nil {
		return unix.EINVAL
	}
	if err := s.CreateNICWithOptions(n.ID, n.Link, stack.NICOptions{Name: n.Name}); err != nil {
		return errno(err)
	}
	for _, a := range n.Addresses {
		if err := s.AddProtocolAddress(n.ID, a, stack.AddressProperties{}); err != nil {
			return errno(err)
		}
	}
	for _, r := range n.Routes {
		s.AddRoute(r)
	}
	return nil
}
