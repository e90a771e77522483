package boot

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/runsc-cri/runsc-cri/sentry/control"
	"github.com/runsc-cri/runsc-cri/sentry/socket/inet"
)

// configureNetwork implements control.MethodConfigureNetwork: it adds the
// pod's interface (eth0 from CNI) to the pod's stack over the attached
// packet socket (fds[0], kept by the stack). See sentry/control/network.go
// for the model.
func (p *Pod) configureNetwork(r *control.ConfigureNetworkRequest, fds []*os.File) error {
	if len(fds) < 1 || fds[0] == nil {
		return fmt.Errorf("ConfigureNetwork: no packet socket attached: %w", unix.EBADF)
	}
	if err := checkPacketSocket(fds[0]); err != nil {
		return fmt.Errorf("ConfigureNetwork: attached fd: %w", err)
	}
	n, err := packetNIC(r)
	if err != nil {
		return fmt.Errorf("ConfigureNetwork %s: %w", r.Name, err)
	}
	n.File = fds[0]
	if err := inet.StackFor(p.m.v).AddPacketNIC(n); err != nil {
		return fmt.Errorf("ConfigureNetwork %s: %w", r.Name, err)
	}
	fds[0] = nil // the stack keeps it
	p.log.Info("pod network", "nic", r.Name, "mac", r.MAC, "mtu", r.MTU, "addresses", r.Addresses)
	return nil
}

// checkPacketSocket makes sure f is an AF_PACKET socket: the sentry takes
// nothing else as a NIC.
func checkPacketSocket(f *os.File) error {
	sa, err := unix.Getsockname(int(f.Fd()))
	if err != nil {
		return unix.ENOTSOCK
	}
	if _, ok := sa.(*unix.SockaddrLinklayer); !ok {
		return unix.EINVAL
	}
	return nil
}

// packetNIC turns the request into an inet.PacketNIC (without its file).
func packetNIC(r *control.ConfigureNetworkRequest) (inet.PacketNIC, error) {
	n := inet.PacketNIC{ID: tcpip.NICID(r.Index), Name: r.Name, MTU: r.MTU}
	if r.Index == 1 || r.Index < 0 || r.Index > 1<<16 {
		return n, fmt.Errorf("interface index %d: %w", r.Index, unix.EINVAL)
	}
	mac, err := net.ParseMAC(r.MAC)
	if err != nil || len(mac) != 6 {
		return n, fmt.Errorf("MAC %q: %w", r.MAC, unix.EINVAL)
	}
	n.MAC = tcpip.LinkAddress(mac)
	for _, a := range r.Addresses {
		pfx, err := netip.ParsePrefix(a)
		if err != nil {
			return n, fmt.Errorf("address %q: %w", a, unix.EINVAL)
		}
		n.Addresses = append(n.Addresses, tcpip.AddressWithPrefix{
			Address:   tcpip.AddrFromSlice(pfx.Addr().Unmap().AsSlice()),
			PrefixLen: pfx.Bits(),
		})
	}
	for _, rt := range r.Routes {
		dst, err := netip.ParsePrefix(rt.Destination)
		if err != nil {
			return n, fmt.Errorf("route %q: %w", rt.Destination, unix.EINVAL)
		}
		dst = dst.Masked()
		sub, serr := tcpip.NewSubnet(tcpip.AddrFromSlice(dst.Addr().AsSlice()), tcpip.MaskFromBytes(net.CIDRMask(dst.Bits(), dst.Addr().BitLen())))
		if serr != nil {
			return n, fmt.Errorf("route %q: %w", rt.Destination, unix.EINVAL)
		}
		route := tcpip.Route{Destination: sub}
		if rt.Gateway != "" {
			gw, err := netip.ParseAddr(rt.Gateway)
			if err != nil || gw.BitLen() != dst.Addr().BitLen() {
				return n, fmt.Errorf("route %q: gateway %q: %w", rt.Destination, rt.Gateway, unix.EINVAL)
			}
			route.Gateway = tcpip.AddrFromSlice(gw.AsSlice())
		}
		n.Routes = append(n.Routes, route)
	}
	return n, nil
}

// interfaceStats are the counters of the pod's network interfaces, none
// while its network stack is not built (stats never build it).
func (p *Pod) interfaceStats() []control.InterfaceStats {
	st := inet.StackFor(p.m.v)
	if !st.Started() {
		return nil
	}
	ifs, err := st.Interfaces()
	if err != nil {
		return nil
	}
	out := make([]control.InterfaceStats, 0, len(ifs))
	for _, ifc := range ifs {
		out = append(out, control.InterfaceStats{
			Name: ifc.Name, RxBytes: ifc.RxBytes, RxPackets: ifc.RxPackets, TxBytes: ifc.TxBytes, TxPackets: ifc.TxPackets,
		})
	}
	return out
}
