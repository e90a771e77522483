package boot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// Attach (control.MethodAttach; the protocol is described in
// sentry/control/attach.go).
//
// The model. A container's attachIO is made when it starts. It holds the
// init's input, kept here so that it outlives the daemon: the write end of
// the init's stdin pipe (Process.OpenStdin), or the master of a
// pseudo-terminal that the sentry opened itself (Process.Terminal without a
// Stdin fd: the slave becomes the init's stdin, stdout, stderr and
// controlling terminal, as for a terminal the daemon passes). Output is
// read as before by criLog.copyStream: the log pipes of stdout and stderr,
// or for a terminal the master (logged as "stdout", as containerd does).
// After writing a chunk's complete lines to the log, copyStream hands the
// raw chunk to attachIO.output, which queues it on every attached output
// pipe without blocking (a sink: AttachBacklog bytes at most, the rest
// dropped). Each sink has a goroutine writing its queue to the daemon's
// pipe.
//
// An attachment ends when the daemon closes its end of the Hangup socket
// (detach: queued output is discarded), when the container's output ends
// (finish: queued output is written, then the pipes and the Hangup socket
// are closed), or when the container is removed (detach). A terminal's
// output ends once every process of the container is gone: the sentry then
// closes its own copy of the slave (kept for Resize and /dev/tty), so the
// master reads what is left and then EIO.
//
// Locking: attachIO.mu guards the input, the set of attachments and the
// state flags; it is a leaf below container.mu (start takes container.mu,
// then attachIO.mu through prepareAttach's callees) and is never held
// across a write to a pipe. sink.mu guards a sink's queue only.

// attachIO is a container's Attach state.
type attachIO struct {
	c         *container
	tty       bool
	stdinOnce bool
	// master is the terminal's master (nil without a sentry-made
	// terminal); it is read by the output copier and closed by close.
	master *os.File

	mu sync.Mutex
	// input receives attach clients' stdin: the stdin pipe's write end
	// or master; nil when there is no stdin (any more).
	input *os.File
	// onceTaken: a StdinOnce container's stdin was given to an
	// attachment, whose end closes it.
	onceTaken bool
	clients   map[*attachment]struct{}
	// live counts output streams still being copied; ended is set when
	// the output has ended (or the container is gone): no more
	// attachments.
	live  int
	ended bool
}

// prepareAttach makes the container's attachIO before its init starts: it
// opens the terminal or the stdin pipe the process asks for and returns
// stdio with the init's end in stdio[0] (closed by the caller after the
// start). It runs under c.mu.
func (c *container) prepareAttach(stdio [3]*os.File) ([3]*os.File, error) {
	proc := c.proc
	a := &attachIO{c: c, stdinOnce: proc.StdinOnce, clients: map[*attachment]struct{}{}}
	switch {
	case proc.Terminal && stdio[0] == nil:
		m, s, err := openPty()
		if err != nil {
			return stdio, c.errorf("terminal: %w", err)
		}
		a.tty, a.master = true, m
		if proc.OpenStdin {
			a.input = m
		}
		stdio[0] = s
		a.live = 1
	case proc.Terminal:
		// The daemon's own terminal: it keeps the master.
		a.tty = true
	default:
		if proc.OpenStdin && stdio[0] == nil {
			r, w, err := os.Pipe()
			if err != nil {
				return stdio, c.errorf("stdin pipe: %w", errnoOf(err))
			}
			stdio[0], a.input = r, w
		}
		for i := 1; i < 3; i++ {
			if stdio[i] == nil {
				a.live++ // a log pipe (startProcess, withLog)
			}
		}
	}
	c.att = a
	c.log.tee = a
	return stdio, nil
}

// attachStarted follows the init's start (err: it failed): it starts
// reading the terminal and watching for the container's end.
func (c *container) attachStarted(err error) {
	a := c.att
	if a == nil {
		return
	}
	if err != nil {
		a.close()
		return
	}
	if a.master != nil {
		go c.log.copyStream("stdout", masterReader{a.master})
	}
	go a.watch()
}

// closeAttach detaches every client and closes the input (container
// removal, pod destruction).
func (c *container) closeAttach() {
	c.mu.Lock()
	a := c.att
	c.mu.Unlock()
	a.close()
}

// watch waits until every process of the container is gone, then lets a
// terminal's output end and ends the attachments if no output stream is
// left to do it.
func (a *attachIO) watch() {
	c := a.c
	<-c.kc.Done()
	if a.master != nil {
		if init := c.kc.Init(); init != nil {
			c.ttyMu.Lock()
			f := c.ttys[init.ID()]
			delete(c.ttys, init.ID())
			c.ttyMu.Unlock()
			if f != nil {
				f.Close()
			}
		}
		// Something else holding the slave must not keep the output
		// (and the attachments) open forever.
		m := a.master
		time.AfterFunc(2*time.Second, func() { m.SetReadDeadline(time.Now()) })
	}
	a.mu.Lock()
	if a.live <= 0 {
		a.endLocked()
	}
	a.mu.Unlock()
}

// output queues a chunk of the container's output (stream "stdout" or
// "stderr") on every attached pipe for it. It never blocks on a client.
func (a *attachIO) output(stream string, p []byte) {
	if len(p) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for at := range a.clients {
		s := at.out
		if stream == "stderr" && !a.tty {
			s = at.err
		}
		s.send(p)
	}
}

// streamEnded records the end of one output stream; the last one ends the
// attachments.
func (a *attachIO) streamEnded() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.live--
	if a.live <= 0 {
		a.endLocked()
	}
}

// endLocked finishes every attachment: their queued output is written,
// then their pipes close. No attachment is accepted afterwards.
func (a *attachIO) endLocked() {
	a.ended = true
	for at := range a.clients {
		delete(a.clients, at)
		go at.finish()
	}
}

// close detaches every client and closes the input and the terminal.
func (a *attachIO) close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.ended = true
	clients := make([]*attachment, 0, len(a.clients))
	for at := range a.clients {
		clients = append(clients, at)
		delete(a.clients, at)
	}
	in := a.input
	a.input = nil
	a.mu.Unlock()
	for _, at := range clients {
		at.detach()
	}
	if in != nil && in != a.master {
		in.Close()
	}
	if a.master != nil {
		a.master.Close()
	}
}

// remove forgets an attachment.
func (a *attachIO) remove(at *attachment) {
	a.mu.Lock()
	delete(a.clients, at)
	a.mu.Unlock()
}

// write writes an attach client's input to the container.
func (a *attachIO) write(p []byte) error {
	a.mu.Lock()
	in := a.input
	a.mu.Unlock()
	if in == nil {
		return unix.EPIPE
	}
	_, err := in.Write(p)
	return err
}

// closeInput closes a StdinOnce container's stdin: the pipe's write end
// is closed (the init reads EOF); a terminal gets its EOF character once
// and no more input.
func (a *attachIO) closeInput() {
	a.mu.Lock()
	in := a.input
	a.input = nil
	a.mu.Unlock()
	if in == nil {
		return
	}
	if in != a.master {
		in.Close()
		return
	}
	eof := byte(4) // ^D
	if t, err := unix.IoctlGetTermios(int(a.master.Fd()), unix.TCGETS); err == nil && t.Cc[unix.VEOF] != 0 {
		eof = t.Cc[unix.VEOF]
	}
	a.master.Write([]byte{eof})
}

// attach implements MethodAttach.
func (p *Pod) attach(r *control.AttachRequest, fds []*os.File) (*control.AttachResult, error) {
	c, err := p.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	// The call's fds are closed by the handler: keep non-blocking dups,
	// so that a close interrupts a read or write in progress.
	var taken []*os.File
	fail := func(err error) (*control.AttachResult, error) {
		for _, f := range taken {
			if f != nil {
				f.Close()
			}
		}
		return nil, err
	}
	get := func(what string, idx int) (*os.File, error) {
		if idx < 0 {
			return nil, nil
		}
		if idx >= len(fds) || fds[idx] == nil {
			return nil, c.errorf("attach: %s: fd index %d, but %d fds attached: %w", what, idx, len(fds), unix.EBADF)
		}
		fd, err := unix.FcntlInt(fds[idx].Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, c.errorf("attach: %s: %w", what, err)
		}
		unix.SetNonblock(fd, true)
		f := os.NewFile(uintptr(fd), what)
		taken = append(taken, f)
		return f, nil
	}
	hang, err := get("hangup", r.Hangup)
	if err == nil && hang == nil {
		err = c.errorf("attach: a hangup socket is required: %w", unix.EBADF)
	}
	if err != nil {
		return fail(err)
	}
	stdin, err := get("stdin", r.Stdin)
	if err != nil {
		return fail(err)
	}
	stdout, err := get("stdout", r.Stdout)
	if err != nil {
		return fail(err)
	}
	stderr, err := get("stderr", r.Stderr)
	if err != nil {
		return fail(err)
	}

	c.mu.Lock()
	state, a := c.state, c.att
	c.mu.Unlock()
	if state != stateRunning || a == nil {
		return fail(c.errorf("attach: the container is not running: %w", unix.ESRCH))
	}
	if _, _, done := c.kc.Status(); done {
		return fail(c.errorf("attach: the container has exited: %w", unix.ESRCH))
	}
	at := &attachment{a: a, hangup: hang}
	a.mu.Lock()
	if a.ended {
		a.mu.Unlock()
		return fail(c.errorf("attach: the container has exited (its output has ended): %w", unix.ESRCH))
	}
	res := &control.AttachResult{Terminal: a.tty}
	if stdin != nil && a.input != nil {
		at.stdin = stdin
		res.Stdin = true
		if a.stdinOnce && !a.onceTaken {
			a.onceTaken = true
			at.once = true
			res.StdinOnce = true
		}
	} else if stdin != nil {
		stdin.Close()
	}
	if stdout != nil {
		at.out = newSink(stdout)
	}
	if stderr != nil {
		if a.tty {
			stderr.Close() // a terminal has one output
		} else {
			at.err = newSink(stderr)
		}
	}
	a.clients[at] = struct{}{}
	a.mu.Unlock()

	go at.watchHangup()
	if at.stdin != nil {
		go at.copyStdin()
	}
	return res, nil
}

// attachment is one Attach client.
type attachment struct {
	a        *attachIO
	out, err *sink    // nil: not asked for
	stdin    *os.File // the daemon's stdin pipe (read end), nil: none
	hangup   *os.File
	// once: this attachment's stdin end closes the container's stdin.
	once     bool
	stopOnce sync.Once
}

// watchHangup detaches when the daemon closes its end of the hangup
// socket (or finish closes ours).
func (at *attachment) watchHangup() {
	buf := make([]byte, 64)
	for {
		if _, err := at.hangup.Read(buf); err != nil {
			break
		}
	}
	at.detach()
}

// copyStdin copies the daemon's stdin pipe to the container's input until
// either ends.
func (at *attachment) copyStdin() {
	buf := make([]byte, 32<<10)
	for {
		n, err := at.stdin.Read(buf)
		if n > 0 {
			if werr := at.a.write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if at.once {
		at.a.closeInput()
	}
}

// detach ends the attachment at once, discarding queued output.
func (at *attachment) detach() {
	at.a.remove(at)
	at.out.abort()
	at.err.abort()
	at.stop()
}

// finish ends the attachment once its queued output is written.
func (at *attachment) finish() {
	at.out.finish()
	at.err.finish()
	at.out.wait()
	at.err.wait()
	at.stop()
}

// stop closes the stdin pipe (ending copyStdin) and the hangup socket
// (telling the daemon).
func (at *attachment) stop() {
	at.stopOnce.Do(func() {
		if at.stdin != nil {
			at.stdin.Close()
		}
		at.hangup.Close()
	})
}

// sink queues output for one attached pipe and writes it from its own
// goroutine, so a slow reader never blocks the container or its log. A
// nil *sink ignores everything.
type sink struct {
	f    *os.File
	wake chan struct{}
	done chan struct{}

	mu sync.Mutex
	// buf is what is queued and inflight what run is writing, together
	// at most control.AttachBacklog bytes; dropped counts what did not
	// fit.
	buf       []byte
	inflight  int
	dropped   int64
	finishing bool
	aborted   bool
}

func newSink(f *os.File) *sink {
	s := &sink{f: f, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *sink) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// send queues p (copied), dropping what exceeds the backlog.
func (s *sink) send(p []byte) {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.finishing || s.aborted {
		s.mu.Unlock()
		return
	}
	room := max(control.AttachBacklog-len(s.buf)-s.inflight, 0)
	if len(p) > room {
		s.dropped += int64(len(p) - room)
		p = p[:room]
	}
	s.buf = append(s.buf, p...)
	s.mu.Unlock()
	s.poke()
}

// run writes the queue to the pipe until the sink is finished (queue
// written) or aborted, or the pipe breaks; then it closes the pipe.
func (s *sink) run() {
	defer close(s.done)
	defer s.f.Close()
	for {
		s.mu.Lock()
		b, fin, ab := s.buf, s.finishing, s.aborted
		s.buf = nil
		s.inflight = len(b)
		s.mu.Unlock()
		if ab {
			return
		}
		if len(b) > 0 {
			_, err := s.f.Write(b)
			s.mu.Lock()
			s.inflight = 0
			if err != nil {
				s.aborted = true
			}
			s.mu.Unlock()
			if err != nil {
				return
			}
			continue
		}
		if fin {
			return
		}
		<-s.wake
	}
}

// finish makes run write what is queued, then close the pipe.
func (s *sink) finish() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.finishing = true
	s.mu.Unlock()
	s.poke()
}

// abort drops the queue and closes the pipe (interrupting a write).
func (s *sink) abort() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.aborted = true
	s.buf = nil
	s.mu.Unlock()
	s.poke()
	s.f.Close()
}

// wait waits until run has ended.
func (s *sink) wait() {
	if s != nil {
		<-s.done
	}
}

// masterReader reads a terminal's master: EIO (every slave closed) is the
// end of the output.
type masterReader struct{ f *os.File }

func (r masterReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if err != nil && errors.Is(err, unix.EIO) {
		err = io.EOF
	}
	return n, err
}

// openPty opens a host pseudo-terminal: the master (non-blocking, so that
// a close interrupts a read) and the slave, neither becoming the sentry's
// controlling terminal.
func openPty() (master, slave *os.File, err error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("/dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("unlocking the pty: %w", err)
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
		if err != nil {
			unix.Close(mfd)
			return nil, nil, fmt.Errorf("pty number: %w", err)
		}
		fd, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Close(mfd)
			return nil, nil, fmt.Errorf("pty slave: %w", err)
		}
		sfd = uintptr(fd)
	}
	return os.NewFile(uintptr(mfd), "pty-master"), os.NewFile(sfd, "pty-slave"), nil
}

// errnoOf returns the unix.Errno inside err, or EIO.
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}
