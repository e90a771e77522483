package unixsock

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// message is one queued send (a datagram, or a piece of a stream).
type message struct {
	data []byte
	// off is how much of data a stream reader has consumed.
	off int
	// from is the sender's name when it sent.
	from   string
	sender *sock
	// charged is what is still counted in sender.inflight.
	charged int64
	rights  []*vfs.FileDescription
	creds   *socket.Creds
}

// uncharge returns n charged bytes to the sender.
func (m *message) uncharge(n int64) {
	if m.sender == nil || n == 0 {
		return
	}
	m.charged -= n
	m.sender.inflight.Add(-n)
	m.sender.wq.Notify(waiter.WritableEvents)
}

// dequeued returns the whole remaining charge.
func (m *message) dequeued() { m.uncharge(m.charged) }

// release drops the message's file references.
func (m *message) release(ctx vfs.Context) {
	for _, f := range m.rights {
		f.DecRef(ctx)
	}
	m.rights = nil
}

func dupRights(fs []*vfs.FileDescription) []*vfs.FileDescription {
	if len(fs) == 0 {
		return nil
	}
	out := make([]*vfs.FileDescription, len(fs))
	for i, f := range fs {
		f.IncRef()
		out[i] = f
	}
	return out
}

func credsEqual(a, b *socket.Creds) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// blockReader copies bytes out of caller blocks.
type blockReader struct {
	bs   [][]byte
	left int64
}

func newBlockReader(bs [][]byte) *blockReader {
	return &blockReader{bs: bs, left: socket.TotalLen(bs)}
}

// next returns a private copy of the next n bytes.
func (r *blockReader) next(n int64) []byte {
	out := make([]byte, 0, n)
	for int64(len(out)) < n && len(r.bs) > 0 {
		b := r.bs[0]
		c := min(int64(len(b)), n-int64(len(out)))
		out = append(out, b[:c]...)
		if c == int64(len(b)) {
			r.bs = r.bs[1:]
		} else {
			r.bs[0] = b[c:]
		}
	}
	r.left -= int64(len(out))
	return out
}

// blockWriter copies bytes into caller blocks.
type blockWriter struct {
	bs [][]byte
}

func (w *blockWriter) full() bool {
	for len(w.bs) > 0 && len(w.bs[0]) == 0 {
		w.bs = w.bs[1:]
	}
	return len(w.bs) == 0
}

func (w *blockWriter) write(p []byte) int {
	n := 0
	for len(p) > 0 && !w.full() {
		c := copy(w.bs[0], p)
		w.bs[0] = w.bs[0][c:]
		p = p[c:]
		n += c
	}
	return n
}

// advance returns bs without its first n bytes.
func advance(bs [][]byte, n int64) [][]byte {
	out := append([][]byte(nil), bs...)
	for n > 0 && len(out) > 0 {
		if int64(len(out[0])) <= n {
			n -= int64(len(out[0]))
			out = out[1:]
			continue
		}
		out[0] = out[0][n:]
		n = 0
	}
	return out
}

var writeMask = waiter.WritableEvents

// SendMsg implements socket.Socket.
func (s *sock) SendMsg(ctx vfs.Context, b socket.Blocker, src [][]byte, to []byte, ctrl socket.ControlMessages, flags int) (int64, error) {
	if flags&unix.MSG_OOB != 0 {
		return 0, unix.EOPNOTSUPP
	}
	r := newBlockReader(src)
	var sent int64
	var dl time.Time
	for {
		first := sent == 0
		n, w, err := s.sendOnce(ctx, r, to, ctrl, first)
		sent += n
		if err == nil && (r.left == 0 || s.stype != unix.SOCK_STREAM) {
			return sent, nil
		}
		if err == nil {
			continue
		}
		if err != unix.EAGAIN || b == nil {
			if sent > 0 {
				return sent, nil
			}
			return 0, err
		}
		s.mu.Lock()
		timeo := s.SendTimeout()
		s.mu.Unlock()
		if dl.IsZero() {
			dl = deadline(timeo)
		}
		if err := b.BlockOn(w, writeMask, dl); err != nil {
			if sent > 0 {
				return sent, nil
			}
			return 0, waitErr(err, timeo)
		}
	}
}

// sendOnce sends what it can without waiting. On EAGAIN it returns what to
// wait on for WritableEvents.
func (s *sock) sendOnce(ctx vfs.Context, r *blockReader, to []byte, ctrl socket.ControlMessages, first bool) (int64, waiter.Waitable, error) {
	if s.stype == unix.SOCK_DGRAM && (to != nil || s.passCred) {
		if err := s.autobindIfNeeded(); err != nil {
			return 0, nil, err
		}
	}
	s.mu.Lock()
	state, peer, shut, sndBuf, passCred, from := s.state, s.peer, s.shut, s.sndBuf, s.passCred, s.addr
	s.mu.Unlock()

	target := peer
	switch s.stype {
	case unix.SOCK_STREAM:
		if to != nil {
			if state == stateConnected {
				return 0, nil, unix.EISCONN
			}
			return 0, nil, unix.EOPNOTSUPP
		}
		if state != stateConnected || peer == nil {
			return 0, nil, unix.ENOTCONN
		}
	case unix.SOCK_SEQPACKET:
		if state != stateConnected || peer == nil {
			return 0, nil, unix.ENOTCONN
		}
	case unix.SOCK_DGRAM:
		if to != nil {
			t, err := s.lookupAddr(ctx, to)
			if err != nil {
				return 0, nil, err
			}
			target = t
		}
		if target == nil {
			return 0, nil, unix.ENOTCONN
		}
	}
	if shut&sendShutdown != 0 {
		return 0, nil, unix.EPIPE
	}
	if s.stype != unix.SOCK_STREAM && r.left > sndBuf-32 {
		return 0, nil, unix.EMSGSIZE
	}
	if s.stype == unix.SOCK_STREAM && r.left == 0 {
		return 0, nil, nil
	}
	inflight := s.inflight.Load()
	if inflight >= sndBuf {
		return 0, s, unix.EAGAIN
	}

	target.mu.Lock()
	if target.closed {
		target.mu.Unlock()
		if s.connOriented() {
			return 0, nil, unix.EPIPE
		}
		if target == peer {
			s.mu.Lock()
			if s.peer == target {
				s.peer = nil
			}
			s.mu.Unlock()
		}
		return 0, nil, unix.ECONNREFUSED
	}
	if s.stype == unix.SOCK_DGRAM && target != s && target.peer != nil && target.peer != s {
		target.mu.Unlock()
		return 0, nil, unix.EPERM
	}
	if target.shut&rcvShutdown != 0 {
		target.mu.Unlock()
		return 0, nil, unix.EPIPE
	}
	if s.stype == unix.SOCK_DGRAM && target != s && target.peer != s && len(target.rq) > maxDgramQlen {
		target.mu.Unlock()
		t := target
		return 0, &cond{queues: []*waiter.Queue{&t.peerWait}, ready: func() bool {
			t.mu.Lock()
			defer t.mu.Unlock()
			return t.closed || len(t.rq) <= maxDgramQlen
		}}, unix.EAGAIN
	}
	creds := ctrl.Creds
	if creds == nil && (passCred || target.passCred) {
		c := socket.CallerCreds(ctx)
		creds = &c
	}
	var rights []*vfs.FileDescription
	if first {
		rights = ctrl.Rights
	}
	var n int64
	if s.stype == unix.SOCK_STREAM {
		n = min(r.left, sndBuf-inflight)
		data := r.next(n)
		if l := len(target.rq); l > 0 && len(rights) == 0 {
			last := target.rq[l-1]
			if last.sender == s && last.rights == nil && credsEqual(last.creds, creds) && len(last.data)+len(data) <= maxStreamCoalsc {
				last.data = append(last.data, data...)
				last.charged += n
				data = nil
			}
		}
		if data != nil {
			target.rq = append(target.rq, &message{data: data, from: from, sender: s, charged: n, rights: dupRights(rights), creds: creds})
		}
		s.inflight.Add(n)
		target.rqBytes += n
	} else {
		n = r.left
		data := r.next(n)
		charge := n + dgramOverhead
		target.rq = append(target.rq, &message{data: data, from: from, sender: s, charged: charge, rights: dupRights(rights), creds: creds})
		s.inflight.Add(charge)
		target.rqBytes += n
	}
	target.wq.Notify(waiter.ReadableEvents)
	target.mu.Unlock()
	return n, nil, nil
}

// RecvMsg implements socket.Socket.
func (s *sock) RecvMsg(ctx vfs.Context, b socket.Blocker, dst [][]byte, flags int, wantAddr bool) (socket.RecvResult, error) {
	if flags&unix.MSG_OOB != 0 {
		return socket.RecvResult{}, unix.EINVAL
	}
	peek := flags&unix.MSG_PEEK != 0
	waitAll := flags&unix.MSG_WAITALL != 0 && s.stype == unix.SOCK_STREAM && !peek
	want := socket.TotalLen(dst)
	var total socket.RecvResult
	var dl time.Time
	for {
		r, boundary, err := s.recvOnce(ctx, dst, peek, wantAddr && total.N == 0)
		if err == nil {
			if total.N == 0 {
				total = r
			} else {
				total.N += r.N
				total.MsgLen += r.N
				total.Control.Rights = append(total.Control.Rights, r.Control.Rights...)
			}
			if !waitAll || total.N >= want || boundary || r.N == 0 {
				return total, nil
			}
			dst = advance(dst, r.N)
			continue
		}
		if err != unix.EAGAIN || b == nil {
			if total.N > 0 {
				return total, nil
			}
			return socket.RecvResult{}, err
		}
		s.mu.Lock()
		timeo := s.RecvTimeout()
		s.mu.Unlock()
		if dl.IsZero() {
			dl = deadline(timeo)
		}
		if err := b.BlockOn(s, waiter.ReadableEvents|waiter.EventRdHUp, dl); err != nil {
			if total.N > 0 {
				return total, nil
			}
			return socket.RecvResult{}, waitErr(err, timeo)
		}
	}
}

// recvOnce receives what is there without waiting. boundary reports that a
// stream read stopped at a message boundary it must not cross (a change of
// credentials, or passed descriptors).
func (s *sock) recvOnce(ctx vfs.Context, dst [][]byte, peek, wantAddr bool) (res socket.RecvResult, boundary bool, err error) {
	var consumed []*message
	defer func() {
		for _, m := range consumed {
			m.release(ctx)
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stype == unix.SOCK_STREAM && s.state != stateConnected:
		return res, false, unix.EINVAL
	case s.stype == unix.SOCK_SEQPACKET && s.state != stateConnected:
		return res, false, unix.ENOTCONN
	}
	if s.stype == unix.SOCK_STREAM && socket.TotalLen(dst) == 0 {
		return res, false, nil
	}
	if len(s.rq) == 0 {
		if s.err != 0 {
			err, s.err = s.err, 0
			return res, false, err
		}
		if s.shut&rcvShutdown != 0 {
			return res, true, nil
		}
		return res, false, unix.EAGAIN
	}
	w := &blockWriter{bs: advance(dst, 0)}
	overflow := socket.Creds{UID: socket.OverflowID, GID: socket.OverflowID}
	if s.stype != unix.SOCK_STREAM {
		m := s.rq[0]
		n := int64(w.write(m.data))
		res.N, res.MsgLen = n, int64(len(m.data))
		if n < res.MsgLen {
			res.Flags |= unix.MSG_TRUNC
		}
		if wantAddr && m.from != "" {
			res.From = encodeAddr(m.from)
		}
		if s.passCred {
			res.Control.Creds = &overflow
			if m.creds != nil {
				c := *m.creds
				res.Control.Creds = &c
			}
		}
		if peek {
			res.Control.Rights = dupRights(m.rights)
			return res, false, nil
		}
		res.Control.Rights, m.rights = m.rights, nil
		s.rq[0] = nil
		s.rq = s.rq[1:]
		s.rqBytes -= res.MsgLen
		m.dequeued()
		s.peerWait.Notify(waiter.WritableEvents)
		return res, false, nil
	}

	var creds *socket.Creds
	for i := 0; i < len(s.rq) && !w.full(); {
		m := s.rq[i]
		if i > 0 || res.N > 0 {
			if s.passCred && !credsEqual(m.creds, creds) {
				boundary = true
				break
			}
		} else {
			creds = m.creds
			if wantAddr && m.from != "" {
				res.From = encodeAddr(m.from)
			}
		}
		off := m.off
		k := w.write(m.data[off:])
		res.N += int64(k)
		gotRights := len(m.rights) > 0
		if peek {
			res.Control.Rights = append(res.Control.Rights, dupRights(m.rights)...)
			if gotRights || off+k < len(m.data) {
				boundary = gotRights
				break
			}
			i++
			continue
		}
		res.Control.Rights = append(res.Control.Rights, m.rights...)
		m.rights = nil
		m.off += k
		m.uncharge(int64(k))
		s.rqBytes -= int64(k)
		if m.off < len(m.data) {
			break
		}
		s.rq[0] = nil
		s.rq = s.rq[1:]
		consumed = append(consumed, m)
		if gotRights {
			boundary = true
			break
		}
	}
	if !peek && res.N > 0 {
		s.peerWait.Notify(waiter.WritableEvents)
	}
	res.MsgLen = res.N
	if s.passCred {
		res.Control.Creds = &overflow
		if creds != nil {
			c := *creds
			res.Control.Creds = &c
		}
	}
	return res, boundary, nil
}

// Read implements vfs.FileImpl (read(2), readv(2)): a receive without
// flags; passed descriptors are discarded.
func (s *sock) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	r, _, err := s.recvOnce(ctx, dst, false, false)
	r.Control.Release(ctx)
	return r.N, err
}

// Write implements vfs.FileImpl (write(2), writev(2)).
func (s *sock) Write(ctx vfs.Context, src [][]byte, off int64, appendMode bool) (int64, int64, error) {
	n, err := s.SendMsg(ctx, nil, src, nil, socket.ControlMessages{}, 0)
	return n, 0, err
}
