package control

// Pod networking.
//
// The daemon gives each pod a host network namespace and runs CNI in it
// (bridge, host-local, portmap...). The pod's addresses must then belong
// to the sentry's own network stack, not to the host kernel: in the pod's
// namespace the daemon reads eth0's addresses, MAC, MTU and routes, opens
// an AF_PACKET SOCK_RAW socket bound to eth0, removes the addresses and
// routes from eth0 (so the host kernel neither answers ARP for them nor
// resets connections it knows nothing of) and passes the socket with
// ConfigureNetwork (the sentry itself was started in that namespace).
// The sentry adds a NIC with that MAC and MTU over the
// socket (Ethernet frames both ways, ARP answered by the sentry's stack)
// and gives it the addresses and routes. The socket is the only thing of
// the host's network the sentry ever holds: it is bound to the pod's own
// eth0, in the pod's own namespace.

// MethodConfigureNetwork adds a network interface to the pod's stack.
// Request: ConfigureNetworkRequest, with one fd attached: an AF_PACKET
// SOCK_RAW socket bound to the interface (the sentry keeps it). Errors:
// EBADF without the fd, EINVAL for a bad address, route or MAC, EEXIST
// when the interface (or its index) is already there.
const MethodConfigureNetwork = "ConfigureNetwork"

// ConfigureNetworkRequest describes one interface.
type ConfigureNetworkRequest struct {
	// Name is the interface name inside the pod ("eth0").
	Name string `json:"name"`
	// Index is its interface index in the pod (not 1: lo), 0 for 2.
	Index int `json:"index,omitempty"`
	// MAC is the hardware address ("aa:bb:cc:dd:ee:ff"), the host
	// interface's: frames to it reach the socket.
	MAC string `json:"mac"`
	// MTU is the interface MTU (0: 1500).
	MTU uint32 `json:"mtu,omitempty"`
	// Addresses are CIDRs ("10.88.0.5/24", "fd00::5/64").
	Addresses []string `json:"addresses"`
	// Routes are the interface's routes.
	Routes []Route `json:"routes,omitempty"`
}

// Route is one route through the interface.
type Route struct {
	// Destination is a CIDR ("0.0.0.0/0" for the default route).
	Destination string `json:"destination"`
	// Gateway is the next hop ("" for a directly connected subnet).
	Gateway string `json:"gateway,omitempty"`
}
