package boot

import (
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/proc"
	"github.com/runsc-cri/runsc-cri/sentry/socket/inet"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// The pod's network: one netstack per sentry (sentry/socket/inet), shared
// by every container of the pod as a pod shares a network namespace. It
// holds the loopback interface only; the netstack itself is built on the
// first inet socket or port-forward (building it costs ~1 ms and a few
// goroutines, which an idle pod that never uses the network should not
// pay). A CNI-configured eth0 will be added here with inet.Stack.AddNIC.

// setupNetwork returns the pod's stack, following the pod's sysctls
// (ping_group_range, ip_unprivileged_port_start, somaxconn).
func setupNetwork(v *vfs.VirtualFilesystem, sysctls *proc.Sysctls) *inet.Stack {
	st := inet.StackFor(v)
	if sysctls != nil {
		st.SetSysctls(sysctls.Get)
	}
	return st
}

// teardownNetwork closes the pod's stack (every endpoint left).
func teardownNetwork(v *vfs.VirtualFilesystem) { inet.Forget(v) }
