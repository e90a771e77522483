package network

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// Handoff prepares the pod's eth0 for its sentry (see the package
// comment): it returns an AF_PACKET socket bound to eth0 in the pod's
// namespace and the ConfigureNetwork request describing eth0, after
// removing eth0's addresses and routes from the host kernel. The caller
// passes both to the sentry and closes the file. The host side of the
// veth gets its offloads turned off (best effort: a failure is logged).
func (m *Manager) Handoff(a *Attachment) (*os.File, *control.ConfigureNetworkRequest, error) {
	var (
		f      *os.File
		req    *control.ConfigureNetworkRequest
		peer   int
		isVeth bool
	)
	err := inNetNS(a.NetNS, func() error {
		link, err := netlink.LinkByName(IfName)
		if err != nil {
			return fmt.Errorf("%s in the pod's namespace: %w", IfName, err)
		}
		attrs := link.Attrs()
		isVeth, peer = link.Type() == "veth", attrs.ParentIndex
		if len(attrs.HardwareAddr) != 6 {
			return fmt.Errorf("%s: not an Ethernet interface (address %q)", IfName, attrs.HardwareAddr)
		}
		req = &control.ConfigureNetworkRequest{Name: IfName, MAC: attrs.HardwareAddr.String(), MTU: uint32(attrs.MTU)}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("%s addresses: %w", IfName, err)
		}
		routes, err := netlink.RouteList(link, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("%s routes: %w", IfName, err)
		}
		for _, ad := range addrs {
			req.Addresses = append(req.Addresses, ad.IPNet.String())
		}
		for _, r := range routes {
			if r.Type != unix.RTN_UNICAST || len(r.MultiPath) > 0 {
				continue
			}
			dst := r.Dst
			if dst == nil {
				bits := 32
				if r.Family == unix.AF_INET6 {
					bits = 128
				}
				dst = &net.IPNet{IP: make(net.IP, bits/8), Mask: net.CIDRMask(0, bits)}
			}
			rt := control.Route{Destination: dst.String()}
			if r.Gw != nil {
				rt.Gateway = r.Gw.String()
			}
			req.Routes = append(req.Routes, rt)
		}
		if f, err = packetSocket(attrs.Index); err != nil {
			return err
		}
		// From here on the host kernel must not answer for the pod.
		for _, r := range routes {
			netlink.RouteDel(&r) // also gone with the addresses
		}
		for _, ad := range addrs {
			if err := netlink.AddrDel(link, &ad); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				f.Close()
				return fmt.Errorf("removing %s from %s: %w", ad.IPNet, IfName, err)
			}
		}
		// No link-local address or router solicitation from the host.
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+IfName+"/disable_ipv6", []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			m.o.Log.Warn("pod network: disabling IPv6 on the host's eth0", "pod", a.PodID, "err", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("handing %s to the sentry: %w", IfName, err)
	}
	if isVeth && peer > 0 {
		if err := offloadsOff(peer); err != nil {
			m.o.Log.Warn("pod network: turning offloads off on the host veth", "pod", a.PodID, "ifindex", peer, "err", err)
		}
	}
	return f, req, nil
}

// packetSocket opens an AF_PACKET SOCK_RAW socket receiving every
// protocol, bound to interface ifindex (of the calling thread's
// namespace).
func packetSocket(ifindex int) (*os.File, error) {
	// Protocol 0 at creation: no packet is taken before the bind, and the
	// bind need not unhook a first registration (an RCU grace period:
	// ~10 ms of pod start).
	proto := htons(unix.ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding the packet socket to %s: %w", IfName, err)
	}
	return os.NewFile(uintptr(fd), "packet:"+IfName), nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
