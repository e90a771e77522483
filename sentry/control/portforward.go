package control

// Port forwarding.
//
// A PortForward call carries one end of a host SOCK_STREAM socket pair
// (the daemon keeps the other). The sentry connects to the TCP port on
// the pod's own network stack — 127.0.0.1 first, then ::1 when nothing
// listens there, as kubelet's port-forward reaches a pod's localhost —
// and answers once the connection is made (or failed: ECONNREFUSED when
// nothing listens on either address). It then copies bytes both ways
// between the socket and the connection until both directions are done.
// Half-closes are passed on: when the daemon shuts its end for writing
// the sentry shuts the pod connection for writing (the server reads EOF)
// and keeps copying the server's answer back; when the server closes its
// side, the sentry shuts the socket for writing. A reset on either side
// ends both.

// MethodPortForward opens a forwarded connection to a TCP port of the
// pod. Request: PortForwardRequest (one fd attached: a stream socket).
// Errors: EINVAL for port 0, EBADF for a missing fd, ECONNREFUSED when
// nothing listens, ETIMEDOUT when the connection cannot be made in time.
const MethodPortForward = "PortForward"

// PortForwardRequest names the pod's TCP port to connect to.
type PortForwardRequest struct {
	Port uint16 `json:"port"`
}
