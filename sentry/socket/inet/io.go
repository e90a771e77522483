package inet

import (
	"io"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// blockWriter is the io.Writer netstack reads into: it fills the caller's
// blocks in order. A stream writer stops with io.ErrShortWrite when they
// are full (netstack keeps the rest queued); a datagram writer swallows
// what does not fit (the datagram is consumed and truncated).
type blockWriter struct {
	bs      [][]byte
	n       int64
	discard bool
}

func (w *blockWriter) Write(p []byte) (int, error) {
	want := len(p)
	for len(p) > 0 && len(w.bs) > 0 {
		c := copy(w.bs[0], p)
		w.bs[0] = w.bs[0][c:]
		if len(w.bs[0]) == 0 {
			w.bs = w.bs[1:]
		}
		p = p[c:]
		w.n += int64(c)
	}
	for len(w.bs) > 0 && len(w.bs[0]) == 0 {
		w.bs = w.bs[1:]
	}
	if len(p) > 0 && !w.discard {
		return want - len(p), io.ErrShortWrite
	}
	return want, nil
}

func (w *blockWriter) full() bool {
	for len(w.bs) > 0 && len(w.bs[0]) == 0 {
		w.bs = w.bs[1:]
	}
	return len(w.bs) == 0
}

// blocksReader is the tcpip.Payloader netstack copies a send from: the
// caller's blocks read in place (a large write is never copied whole
// into the sentry; netstack takes what fits its send buffer).
type blocksReader struct {
	bs   [][]byte
	left int64
}

func newBlocksReader(bs [][]byte, skip int64) *blocksReader {
	r := &blocksReader{}
	for _, b := range bs {
		if skip >= int64(len(b)) {
			skip -= int64(len(b))
			continue
		}
		b = b[skip:]
		skip = 0
		r.bs = append(r.bs, b)
		r.left += int64(len(b))
	}
	return r
}

// Read implements io.Reader.
func (r *blocksReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && len(r.bs) > 0 {
		c := copy(p[n:], r.bs[0])
		n += c
		if c == len(r.bs[0]) {
			r.bs = r.bs[1:]
		} else {
			r.bs[0] = r.bs[0][c:]
		}
	}
	r.left -= int64(n)
	return n, nil
}

// Len implements tcpip.Payloader.
func (r *blocksReader) Len() int { return int(min(r.left, 1<<31-1)) }

// SendMsg implements socket.Socket.
func (s *sock) SendMsg(ctx vfs.Context, b socket.Blocker, src [][]byte, to []byte, ctrl socket.ControlMessages, flags int) (int64, error) {
	if flags&unix.MSG_OOB != 0 {
		return 0, unix.EOPNOTSUPP
	}
	var opts tcpip.WriteOptions
	if to != nil && !s.isStream() {
		fa, kind, err := parseDgramAddr(s.family, to)
		if err != nil {
			return 0, err
		}
		if kind != addrUnspec {
			if s.family == unix.AF_INET6 && isV4Mapped(fa.Addr) && s.ep.SocketOptions().GetV6Only() {
				return 0, unix.ENETUNREACH
			}
			opts.To = &fa
		}
	}
	if flags&unix.MSG_MORE != 0 {
		opts.More = true
	}
	total := socket.TotalLen(src)
	var sent int64
	var dl time.Time
	for {
		n, terr := s.ep.Write(newBlocksReader(src, sent), opts)
		sent += n
		if terr == nil {
			if !s.isStream() || sent == total {
				return sent, nil
			}
			continue
		}
		if _, ok := terr.(*tcpip.ErrWouldBlock); !ok || b == nil {
			if sent > 0 {
				return sent, nil
			}
			return 0, errno(terr)
		}
		timeo := s.SendTimeout()
		if dl.IsZero() {
			dl = deadline(timeo)
		}
		if err := b.BlockOn(s, waiter.WritableEvents, dl); err != nil {
			if sent > 0 {
				return sent, nil
			}
			return 0, waitErr(err, timeo)
		}
	}
}

// RecvMsg implements socket.Socket.
func (s *sock) RecvMsg(ctx vfs.Context, b socket.Blocker, dst [][]byte, flags int, wantAddr bool) (socket.RecvResult, error) {
	if flags&unix.MSG_ERRQUEUE != 0 {
		return socket.RecvResult{}, unix.EAGAIN
	}
	if flags&unix.MSG_OOB != 0 {
		if s.isStream() {
			return socket.RecvResult{}, unix.EINVAL
		}
		return socket.RecvResult{}, unix.EOPNOTSUPP
	}
	if s.isStream() {
		return s.recvStream(b, dst, flags)
	}
	return s.recvDgram(b, dst, flags, wantAddr)
}

func (s *sock) recvStream(b socket.Blocker, dst [][]byte, flags int) (socket.RecvResult, error) {
	peek := flags&unix.MSG_PEEK != 0
	waitAll := flags&unix.MSG_WAITALL != 0 && !peek
	w := &blockWriter{bs: append([][]byte(nil), dst...)}
	if w.full() {
		// A zero-length read: nothing to wait for (a listener still
		// answers ENOTCONN, as Linux).
		if s.ep.SocketOptions().GetAcceptConn() {
			return socket.RecvResult{}, unix.ENOTCONN
		}
		return socket.RecvResult{}, nil
	}
	var dl time.Time
	done := func() socket.RecvResult { return socket.RecvResult{N: w.n, MsgLen: w.n} }
	for {
		_, terr := s.ep.Read(w, tcpip.ReadOptions{Peek: peek})
		if terr == nil {
			if !waitAll || w.full() {
				return done(), nil
			}
			continue
		}
		switch terr.(type) {
		case *tcpip.ErrClosedForReceive:
			return done(), nil // end of stream
		case *tcpip.ErrWouldBlock:
		default:
			if w.n > 0 {
				return done(), nil
			}
			if _, ok := terr.(*tcpip.ErrInvalidEndpointState); ok {
				return socket.RecvResult{}, unix.ENOTCONN
			}
			return socket.RecvResult{}, errno(terr)
		}
		if b == nil {
			if w.n > 0 {
				return done(), nil
			}
			return socket.RecvResult{}, unix.EAGAIN
		}
		timeo := s.RecvTimeout()
		if dl.IsZero() {
			dl = deadline(timeo)
		}
		if err := b.BlockOn(s, waiter.ReadableEvents, dl); err != nil {
			if w.n > 0 {
				return done(), nil
			}
			return socket.RecvResult{}, waitErr(err, timeo)
		}
	}
}

func (s *sock) recvDgram(b socket.Blocker, dst [][]byte, flags int, wantAddr bool) (socket.RecvResult, error) {
	peek := flags&unix.MSG_PEEK != 0
	var dl time.Time
	for {
		w := &blockWriter{bs: append([][]byte(nil), dst...), discard: true}
		res, terr := s.ep.Read(w, tcpip.ReadOptions{Peek: peek, NeedRemoteAddr: wantAddr})
		if terr == nil {
			r := socket.RecvResult{N: w.n, MsgLen: int64(res.Total)}
			if int64(res.Total) > w.n {
				r.Flags |= unix.MSG_TRUNC
			}
			if wantAddr {
				r.From = encodeAddr(s.family, res.RemoteAddr)
			}
			r.Control.IP = ipControls(&res.ControlMessages)
			return r, nil
		}
		switch terr.(type) {
		case *tcpip.ErrClosedForReceive:
			return socket.RecvResult{}, nil
		case *tcpip.ErrWouldBlock:
		default:
			return socket.RecvResult{}, errno(terr)
		}
		if b == nil {
			return socket.RecvResult{}, unix.EAGAIN
		}
		timeo := s.RecvTimeout()
		if dl.IsZero() {
			dl = deadline(timeo)
		}
		if err := b.BlockOn(s, waiter.ReadableEvents, dl); err != nil {
			return socket.RecvResult{}, waitErr(err, timeo)
		}
	}
}

// Read implements vfs.FileImpl: recv(2) without flags that never waits
// (the syscall layer waits on readiness for blocking files).
func (s *sock) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	r, err := s.RecvMsg(ctx, nil, dst, 0, false)
	return r.N, err
}

// Write implements vfs.FileImpl.
func (s *sock) Write(ctx vfs.Context, src [][]byte, off int64, appendMode bool) (int64, int64, error) {
	n, err := s.SendMsg(ctx, nil, src, nil, socket.ControlMessages{}, 0)
	return n, off + n, err
}
