package inet

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
)

// A pod NIC over a host packet socket (the gVisor model of CNI): the
// daemon opens an AF_PACKET SOCK_RAW socket bound to the pod's eth0 in the
// pod's host network namespace and removes eth0's addresses there; the
// sentry's stack owns them instead. Frames are read and written whole
// (Ethernet header included) by gVisor's fdbased link endpoint; ARP is
// answered by the stack's ARP protocol with the host interface's MAC, so
// the peer (the bridge) sees the same MAC as before the hand-over.
//
// The socket belongs to the stack from AddPacketNIC on; it is kept open as
// long as the process lives (a pod sentry ends with its pod).

// FirstPodNIC is the index given to the first pod NIC ("eth0").
const FirstPodNIC tcpip.NICID = 2

// PacketNIC describes a NIC over a host packet socket.
type PacketNIC struct {
	// ID is the NIC's index (0: FirstPodNIC).
	ID tcpip.NICID
	// Name is its name ("eth0").
	Name string
	// File is the packet socket, bound to the host interface.
	File *os.File
	// MAC is the host interface's hardware address (6 bytes).
	MAC tcpip.LinkAddress
	// MTU is the interface MTU (0: 1500).
	MTU uint32
	// Addresses are the NIC's addresses (IPv4 and IPv6).
	Addresses []tcpip.AddressWithPrefix
	// Routes go through the NIC (their NIC field is set here).
	Routes []tcpip.Route
}

// bufMTU is the largest MTU fdbased's receive buffers were cut for.
// Guarded by packetMu.
var bufMTU uint32

// fitBufConfig cuts fdbased's receive buffer sizes (a process-wide
// setting read when an endpoint is made) down to what one frame of the
// largest MTU seen needs. The default is sized for 64 KiB GSO super-frames
// and each endpoint keeps 8 such sets for recvmmsg: 512 KiB of buffers
// per pod for nothing, since the host side of the veth segments and
// checksums everything (GSO is off here). Caller holds packetMu.
func fitBufConfig(mtu uint32) {
	if mtu <= bufMTU {
		return
	}
	bufMTU = mtu
	need := int(mtu) + 18 // Ethernet header and a VLAN tag
	var sizes []int
	total := 0
	for _, sz := range []int{128, 256, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768} {
		sizes = append(sizes, sz)
		total += sz
		if total >= need {
			break
		}
	}
	for total < need { // jumbo frames past 64 KiB cannot be; be safe anyway
		sizes = append(sizes, 32768)
		total += 32768
	}
	fdbased.BufConfig = sizes
}

// packetFiles keeps each stack's packet sockets referenced (an *os.File
// that is collected closes its fd under the endpoint).
var packetFiles sync.Map // *Stack → *[]*os.File (guarded by packetMu)

var packetMu sync.Mutex

// AddPacketNIC adds a NIC over a host packet socket, with its addresses
// and routes; the stack is built now if it was not yet. Errors: EINVAL for
// a missing socket, a bad MAC or MTU, EEXIST for a NIC index or name
// already there.
func (st *Stack) AddPacketNIC(n PacketNIC) error {
	if n.File == nil || len(n.MAC) != 6 || n.Name == "" || len(n.Name) >= ifNameSize {
		return unix.EINVAL
	}
	if n.ID == 0 {
		n.ID = FirstPodNIC
	}
	if n.MTU == 0 {
		n.MTU = 1500
	}
	if n.MTU < 576 || n.MTU > 65535 {
		return unix.EINVAL
	}
	s, err := st.Netstack()
	if err != nil {
		return err
	}
	for id, info := range s.NICInfo() {
		if id == n.ID || info.Name == n.Name {
			return unix.EEXIST
		}
	}
	// With a virtio-net header on each frame (PACKET_VNET_HDR), the stack
	// hands the host TCP segments of up to 64 KiB with their checksums
	// to compute, which the host kernel cuts into frames (host GSO):
	// fewer, larger writes. Received frames carry the header too (the
	// dispatcher skips it); they stay frame-sized, as the host side of
	// the veth segments everything it sends us.
	var gsoMax uint32
	if unix.SetsockoptInt(int(n.File.Fd()), unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1) == nil {
		gsoMax = 1 << 16
	}
	packetMu.Lock()
	fitBufConfig(n.MTU)
	ep, err := fdbased.New(&fdbased.Options{
		GSOMaxSize:         gsoMax,
		FDs:                []int{int(n.File.Fd())},
		MTU:                n.MTU,
		EthernetHeader:     true,
		Address:            n.MAC,
		PacketDispatchMode: fdbased.RecvMMsg,
		// One goroutine hands received frames to the stack: a pod's
		// traffic does not need one per CPU (each costs memory).
		ProcessorsPerChannel: 1,
		// Checksums are the stack's to compute (but for GSO segments,
		// see above) and to check: the daemon turns off the offloads
		// that would hand us frames whose checksums are left partial.
		TXChecksumOffload: false,
		RXChecksumOffload: false,
	})
	packetMu.Unlock()
	if err != nil {
		return unix.EINVAL
	}
	nic := NIC{ID: n.ID, Name: n.Name, Link: ep}
	for _, a := range n.Addresses {
		proto := ipv4.ProtocolNumber
		if a.Address.Len() == 16 {
			proto = ipv6.ProtocolNumber
		} else if a.Address.Len() != 4 {
			return unix.EINVAL
		}
		nic.Addresses = append(nic.Addresses, tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: a})
	}
	for _, r := range n.Routes {
		r.NIC = n.ID
		nic.Routes = append(nic.Routes, r)
	}
	if err := st.AddNIC(nic); err != nil {
		s.RemoveNIC(n.ID)
		return err
	}
	packetMu.Lock()
	v, _ := packetFiles.LoadOrStore(st, &[]*os.File{})
	files := v.(*[]*os.File)
	*files = append(*files, n.File)
	packetMu.Unlock()
	return nil
}
