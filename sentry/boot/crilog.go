package boot

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// CRI container logs.
//
// A container's stdout and stderr (when the daemon gives no fds of its own
// for them) are sentry pipes; one goroutine per stream reads its pipe and
// writes records in the CRI log format to the container's log file:
//
//	<timestamp RFC3339Nano> <stdout|stderr> <F|P> <line>\n
//
// A line longer than maxLogLine bytes is cut into records of maxLogLine
// bytes tagged P (partial), the last piece tagged F (full); text left
// without a newline when the stream ends is flushed as an F record. Every
// record is one write(2) on the log fd, which the daemon opened with
// O_APPEND, so the two streams never interleave inside a record. ReopenLog
// swaps the fd under criLog.mu (the daemon renamed the old file first, as
// the kubelet's log rotation does); a record goes wholly to the old or the
// new file.

// maxLogLine is the longest record content, as containerd's CRI plugin.
const maxLogLine = 16 << 10

// logTimeFormat is RFC3339Nano with fixed-width nanoseconds, so records
// sort as text; it parses with time.RFC3339Nano.
const logTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// criLog is one container's log file.
type criLog struct {
	// mu guards f and serialises records.
	mu sync.Mutex
	f  *os.File // nil: output is discarded
	// now is the clock (tests).
	now func() time.Time
	// tee, if set, also gets the raw output after its lines are logged
	// (Attach clients, pod_attach.go); set before the streams start.
	tee *attachIO
}

func newCRILog(f *os.File) *criLog { return &criLog{f: f, now: time.Now} }

// record writes one record. Errors (a full disk) drop the record: the
// application must not stall on its log.
func (l *criLog) record(stream string, full bool, content []byte) {
	tag := byte('P')
	if full {
		tag = 'F'
	}
	b := make([]byte, 0, len(logTimeFormat)+len(stream)+len(content)+6)
	b = l.now().AppendFormat(b, logTimeFormat)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, ' ', tag, ' ')
	b = append(b, content...)
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Write(b)
	}
}

// reopen makes f the log file and closes the old one.
func (l *criLog) reopen(f *os.File) {
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// close closes the log file; later records are dropped.
func (l *criLog) close() {
	if l != nil {
		l.reopen(nil)
	}
}

// copyStream reads r until it ends and writes its lines as records of
// stream ("stdout" or "stderr").
func (l *criLog) copyStream(stream string, r io.Reader) {
	buf := make([]byte, 32<<10)
	var pending []byte
	for {
		n, err := r.Read(buf)
		pending = append(pending, buf[:n]...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			line := pending[:i]
			for len(line) > maxLogLine {
				l.record(stream, false, line[:maxLogLine])
				line = line[maxLogLine:]
			}
			l.record(stream, true, line)
			pending = pending[i+1:]
		}
		for len(pending) >= maxLogLine {
			l.record(stream, false, pending[:maxLogLine])
			pending = pending[maxLogLine:]
		}
		if l.tee != nil {
			l.tee.output(stream, buf[:n])
		}
		if err != nil {
			if len(pending) > 0 {
				l.record(stream, true, pending)
			}
			if l.tee != nil {
				l.tee.streamEnded()
			}
			return
		}
	}
}

// pipeReader reads a sentry pipe's read end from a Go goroutine, waiting
// on the pipe's queue when it is empty. It owns fd's reference.
type pipeReader struct {
	fd *vfs.FileDescription
	e  *waiter.Entry
}

func newPipeReader(fd *vfs.FileDescription) *pipeReader {
	r := &pipeReader{fd: fd, e: waiter.NewEntry()}
	fd.EventRegister(r.e, waiter.ReadableEvents|waiter.EventHUp)
	return r
}

// Read implements io.Reader: io.EOF once every writer has closed.
func (r *pipeReader) Read(p []byte) (int, error) {
	for {
		n, err := r.fd.Read(rootCtx, [][]byte{p})
		if errors.Is(err, unix.EAGAIN) {
			<-r.e.C
			continue
		}
		if err != nil {
			return int(n), err
		}
		if n == 0 {
			return 0, io.EOF
		}
		return int(n), nil
	}
}

// Close releases the read end.
func (r *pipeReader) Close() {
	r.fd.EventUnregister(r.e)
	r.fd.DecRef(rootCtx)
}
