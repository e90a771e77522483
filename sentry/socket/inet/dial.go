package inet

import (
	"context"
	"net"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	gwaiter "gvisor.dev/gvisor/pkg/waiter"
)

// Conn is a TCP connection made by the sentry itself on the pod's stack
// (port forwarding): a net.Conn that can also shut down its write side.
type Conn interface {
	net.Conn
	CloseWrite() error
}

// DialLoopback connects to port on the pod's loopback: 127.0.0.1, then
// ::1 when nothing listens on the former. Errors are errno values
// (ECONNREFUSED) or ctx's error.
func (st *Stack) DialLoopback(ctx context.Context, port uint16) (Conn, error) {
	ns, err := st.Netstack()
	if err != nil {
		return nil, err
	}
	if port == 0 {
		return nil, unix.EINVAL
	}
	targets := []struct {
		addr  tcpip.Address
		proto tcpip.NetworkProtocolNumber
	}{
		{tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), ipv4.ProtocolNumber},
		{tcpip.AddrFrom16([16]byte{15: 1}), ipv6.ProtocolNumber},
	}
	for _, t := range targets {
		var wq gwaiter.Queue
		ep, terr := ns.NewEndpoint(tcp.ProtocolNumber, t.proto, &wq)
		if terr != nil {
			return nil, errno(terr)
		}
		if terr = connectEndpoint(ctx, ep, &wq, tcpip.FullAddress{Addr: t.addr, Port: port}); terr == nil {
			return gonet.NewTCPConn(&wq, ep), nil
		}
		ep.Close()
		if _, ok := terr.(*tcpip.ErrConnectionRefused); ok {
			err = unix.ECONNREFUSED
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errno(terr)
	}
	return nil, err
}

// ctxDone stands for ctx's end in connectEndpoint.
type ctxDone struct{ tcpip.ErrTimeout }

func connectEndpoint(ctx context.Context, ep tcpip.Endpoint, wq *gwaiter.Queue, fa tcpip.FullAddress) tcpip.Error {
	entry, ch := gwaiter.NewChannelEntry(gwaiter.WritableEvents | gwaiter.EventErr | gwaiter.EventHUp)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	terr := ep.Connect(fa)
	if _, ok := terr.(*tcpip.ErrConnectStarted); !ok {
		return terr
	}
	for {
		select {
		case <-ctx.Done():
			return &ctxDone{}
		case <-ch:
		}
		if terr := ep.LastError(); terr != nil {
			return terr
		}
		switch tcp.EndpointState(ep.State()) {
		case tcp.StateConnecting, tcp.StateSynSent, tcp.StateSynRecv:
			continue
		case tcp.StateClose, tcp.StateError:
			return &tcpip.ErrConnectionRefused{}
		}
		return nil
	}
}
