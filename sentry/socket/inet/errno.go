package inet

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// errno converts a netstack error to the errno Linux returns in the same
// situation; nil stays nil.
func errno(err tcpip.Error) error {
	if err == nil {
		return nil
	}
	switch err.(type) {
	case *tcpip.ErrAborted, *tcpip.ErrConnectionReset:
		return unix.ECONNRESET
	case *tcpip.ErrAddressFamilyNotSupported:
		return unix.EAFNOSUPPORT
	case *tcpip.ErrAlreadyBound, *tcpip.ErrInvalidEndpointState, *tcpip.ErrInvalidOptionValue,
		*tcpip.ErrInvalidNICID, *tcpip.ErrInvalidPortRange, *tcpip.ErrMissingRequiredFields:
		return unix.EINVAL
	case *tcpip.ErrAlreadyConnected:
		return unix.EISCONN
	case *tcpip.ErrAlreadyConnecting:
		return unix.EALREADY
	case *tcpip.ErrBadAddress:
		return unix.EFAULT
	case *tcpip.ErrBadBuffer:
		return unix.EFAULT
	case *tcpip.ErrBadLocalAddress:
		return unix.EADDRNOTAVAIL
	case *tcpip.ErrBroadcastDisabled, *tcpip.ErrNotPermitted:
		return unix.EACCES
	case *tcpip.ErrClosedForReceive:
		return nil // EOF
	case *tcpip.ErrClosedForSend:
		return unix.EPIPE
	case *tcpip.ErrConnectStarted:
		return unix.EINPROGRESS
	case *tcpip.ErrConnectionAborted:
		return unix.ECONNABORTED
	case *tcpip.ErrConnectionRefused:
		return unix.ECONNREFUSED
	case *tcpip.ErrDestinationRequired:
		return unix.EDESTADDRREQ
	case *tcpip.ErrDuplicateAddress, *tcpip.ErrDuplicateNICID:
		return unix.EEXIST
	case *tcpip.ErrMalformedHeader:
		return unix.EINVAL
	case *tcpip.ErrMessageTooLong:
		return unix.EMSGSIZE
	case *tcpip.ErrNetworkUnreachable:
		return unix.ENETUNREACH
	case *tcpip.ErrHostUnreachable:
		return unix.EHOSTUNREACH
	case *tcpip.ErrHostDown:
		return unix.EHOSTDOWN
	case *tcpip.ErrNoNet:
		return unix.ENONET
	case *tcpip.ErrNoBufferSpace:
		return unix.ENOBUFS
	case *tcpip.ErrNoPortAvailable:
		return unix.EAGAIN
	case *tcpip.ErrNoSuchFile:
		return unix.ENOENT
	case *tcpip.ErrNotConnected:
		return unix.ENOTCONN
	case *tcpip.ErrNotSupported, *tcpip.ErrQueueSizeNotSupported:
		return unix.EOPNOTSUPP
	case *tcpip.ErrPortInUse:
		return unix.EADDRINUSE
	case *tcpip.ErrTimeout:
		return unix.ETIMEDOUT
	case *tcpip.ErrUnknownDevice, *tcpip.ErrUnknownNICID:
		return unix.ENODEV
	case *tcpip.ErrUnknownProtocol:
		return unix.EPROTONOSUPPORT
	case *tcpip.ErrUnknownProtocolOption:
		return unix.ENOPROTOOPT
	case *tcpip.ErrWouldBlock:
		return unix.EAGAIN
	case *tcpip.ErrMulticastInputCannotBeOutput:
		return unix.EINVAL
	case *tcpip.ErrEndpointBusy:
		return unix.EBUSY
	}
	return unix.EINVAL
}
