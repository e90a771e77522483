package inet

import (
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// Bridges made inside the pod: SIOCBRADDBR and SIOCBRDELBR (brctl addbr /
// delbr), for a caller with CAP_NET_ADMIN, as Linux's bridge module does
// in a network namespace. A bridge is a NIC of the pod's stack over
// netstack's BridgeEndpoint, created down (as Linux creates it), with a
// random locally administered MAC and MTU 1500, visible to ip link,
// ifconfig and /proc/net/dev like any NIC. Attaching ports (SIOCBRADDIF)
// is not offered: the pod's interfaces are the runtime's.

// firstBridgeNIC is the lowest index a bridge gets, leaving the indexes
// below it to lo and the pod NICs the runtime adds.
const firstBridgeNIC tcpip.NICID = 16

// bridgeMu serialises bridge creation and removal (index choice, name
// checks); it is taken before any netstack lock.
var bridgeMu sync.Mutex

// bridgeIoctl answers SIOCBRADDBR and SIOCBRDELBR; arg points at the
// bridge's name (IFNAMSIZ bytes).
func (st *Stack) bridgeIoctl(ctx vfs.IoctlContext, cmd uint32, arg uintptr) error {
	if !ctx.Credentials().HasCapability(capNetAdmin) {
		return unix.EPERM
	}
	buf := make([]byte, ifNameSize)
	if _, err := ctx.CopyIn(arg, buf); err != nil {
		return unix.EFAULT
	}
	name := ifName(buf)
	if !validIfName(name) {
		return unix.EINVAL
	}
	s, err := st.Netstack()
	if err != nil {
		return err
	}
	bridgeMu.Lock()
	defer bridgeMu.Unlock()
	id, found := nicByName(s, name)
	if cmd == unix.SIOCBRADDBR {
		if found {
			return unix.EEXIST
		}
		next := firstBridgeNIC
		for nid := range s.NICInfo() {
			if nid >= next {
				next = nid + 1
			}
		}
		// BridgeEndpoint reports its MTU less the Ethernet header.
		ep := stack.NewBridgeEndpoint(1500 + header.EthernetMinimumSize)
		if err := s.CreateNICWithOptions(next, ep, stack.NICOptions{Name: name, Disabled: true}); err != nil {
			return errno(err)
		}
		return nil
	}
	// SIOCBRDELBR.
	if !found {
		return unix.ENXIO
	}
	if _, ok := s.GetLinkEndpointByName(name).(*stack.BridgeEndpoint); !ok {
		return unix.EPERM // not a bridge
	}
	if s.NICInfo()[id].Flags.Running { // enabled: up, in Linux's terms
		return unix.EBUSY
	}
	if err := s.RemoveNIC(id); err != nil {
		return errno(err)
	}
	return nil
}

// nicByName finds a NIC of s by name.
func nicByName(s *stack.Stack, name string) (tcpip.NICID, bool) {
	for id, info := range s.NICInfo() {
		if info.Name == name {
			return id, true
		}
	}
	return 0, false
}

// validIfName is Linux's dev_valid_name: 1 to IFNAMSIZ-1 bytes, not "."
// or "..", no '/', ':' or white space.
func validIfName(name string) bool {
	if name == "" || len(name) >= ifNameSize || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsAny(name, "/: \t\n\v\f\r")
}
