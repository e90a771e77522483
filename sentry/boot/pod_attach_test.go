package boot

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// testAttach is the daemon's side of one attachment.
type testAttach struct {
	t      *testing.T
	res    control.AttachResult
	stdin  *os.File // nil: none
	stdout *bufio.Reader
	stderr *bufio.Reader
	outF   *os.File
	errF   *os.File
	hangup *os.File
}

// attach attaches to container id with the streams asked for.
func (p *testPod) attach(id string, stdin, stdout, stderr bool) (*testAttach, error) {
	t := p.t
	t.Helper()
	a := &testAttach{t: t}
	req := control.AttachRequest{ID: id, Stdin: -1, Stdout: -1, Stderr: -1}
	var send []*os.File
	add := func(f *os.File) int { send = append(send, f); return len(send) - 1 }
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a.hangup = os.NewFile(uintptr(pair[0]), "hangup")
	req.Hangup = add(os.NewFile(uintptr(pair[1]), "hangup-sentry"))
	if stdin {
		r, w, _ := os.Pipe()
		req.Stdin, a.stdin = add(r), w
	}
	if stdout {
		r, w, _ := os.Pipe()
		req.Stdout, a.outF, a.stdout = add(w), r, bufio.NewReader(r)
	}
	if stderr {
		r, w, _ := os.Pipe()
		req.Stderr, a.errF, a.stderr = add(w), r, bufio.NewReader(r)
	}
	err = p.call(control.MethodAttach, req, send, &a.res)
	for _, f := range send {
		f.Close()
	}
	if err != nil {
		a.close()
		return nil, err
	}
	t.Cleanup(a.close)
	return a, nil
}

func (a *testAttach) close() {
	for _, f := range []*os.File{a.stdin, a.outF, a.errF, a.hangup} {
		if f != nil {
			f.Close()
		}
	}
}

// line reads one line from r within a deadline.
func (a *testAttach) line(f *os.File, r *bufio.Reader) string {
	a.t.Helper()
	f.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := r.ReadString('\n')
	if err != nil {
		a.t.Fatalf("reading an attached stream: %q, %v", s, err)
	}
	return s
}

// eof checks that r has nothing more than rest and then ends.
func (a *testAttach) eof(f *os.File, r *bufio.Reader, rest string) {
	a.t.Helper()
	f.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(r)
	if err != nil || string(b) != rest {
		a.t.Fatalf("rest of an attached stream: %q, %v; want %q then EOF", b, err, rest)
	}
}

// hungUp checks that the sentry closed the hangup socket.
func (a *testAttach) hungUp() {
	a.t.Helper()
	a.hangup.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := a.hangup.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		a.t.Fatalf("hangup socket: %d, %v; want EOF", n, err)
	}
}

// waitLog waits until the log at path has a record containing want.
func waitLog(t *testing.T, path, want string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("log never had %q: %q", want, b)
}

// TestPodAttach: a StdinOnce container reading lines; two clients attach
// at once (one with stdin, stdout and stderr, one with stdout only), both
// see the output written after they attached, the first one's stdin reaches
// the init, and its EOF closes the init's stdin (StdinOnce); the output
// ends with the container and the log has every line. A later attach gets
// a clear error.
func TestPodAttach(t *testing.T) {
	p := startPod(t)
	proc := noStdio("sh", "-c", `echo ready; while read line; do echo "got:$line"; echo "err:$line" >&2; done; echo bye`)
	proc.OpenStdin, proc.StdinOnce = true, true
	logPath := p.create("reader", proc, nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "reader"}, nil, nil)
	waitLog(t, logPath, "stdout F ready\n")

	a, err := p.attach("reader", true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if !a.res.Stdin || !a.res.StdinOnce || a.res.Terminal {
		t.Fatalf("attach result %+v", a.res)
	}
	b, err := p.attach("reader", true, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if !b.res.Stdin || b.res.StdinOnce {
		t.Fatalf("second attach result %+v (stdin is shared, StdinOnce only for the first)", b.res)
	}
	a.stdin.WriteString("one\n")
	if l := a.line(a.outF, a.stdout); l != "got:one\n" {
		t.Fatalf("stdout %q", l)
	}
	if l := a.line(a.errF, a.stderr); l != "err:one\n" {
		t.Fatalf("stderr %q", l)
	}
	if l := b.line(b.outF, b.stdout); l != "got:one\n" {
		t.Fatalf("second client's stdout %q", l)
	}
	b.stdin.WriteString("two\n")
	if l := a.line(a.outF, a.stdout); l != "got:two\n" {
		t.Fatalf("stdout %q", l)
	}
	// The first attachment's stdin EOF closes the init's stdin.
	a.stdin.Close()
	a.stdin = nil
	a.eof(a.outF, a.stdout, "bye\n")
	a.eof(a.errF, a.stderr, "err:two\n")
	b.eof(b.outF, b.stdout, "got:two\nbye\n")
	a.hungUp()
	b.hungUp()
	if r := p.wait("reader"); r.ExitCode != 0 {
		t.Fatalf("wait %+v", r)
	}
	recs := readLog(t, logPath)
	if got, want := strings.Join(lines(recs, "stdout"), ","), "ready,got:one,got:two,bye"; got != want {
		t.Errorf("logged stdout %q, want %q", got, want)
	}
	if got, want := strings.Join(lines(recs, "stderr"), ","), "err:one,err:two"; got != want {
		t.Errorf("logged stderr %q, want %q", got, want)
	}
	if _, err := p.attach("reader", false, true, false); !errors.Is(err, unix.ESRCH) || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("attach to an exited container: %v", err)
	}
	if _, err := p.attach("nope", false, true, false); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("attach to an unknown container: %v", err)
	}
}

// TestPodAttachDetach: without StdinOnce a client's detach leaves stdin
// open for the next one; a client that never reads does not hold up the
// container or its log (its output beyond the backlog is dropped); a
// container without stdin ignores a client's stdin.
func TestPodAttachDetach(t *testing.T) {
	p := startPod(t)
	proc := noStdio("sh", "-c", `while read line; do echo "got:$line"; if [ "$line" = flood ]; then head -c 3000000 /dev/zero | tr '\0' a; echo; echo flooded; fi; done; echo bye`)
	proc.OpenStdin = true
	logPath := p.create("app", proc, nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "app"}, nil, nil)

	a, err := p.attach("app", true, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if !a.res.Stdin || a.res.StdinOnce {
		t.Fatalf("attach result %+v", a.res)
	}
	a.stdin.WriteString("one\n")
	if l := a.line(a.outF, a.stdout); l != "got:one\n" {
		t.Fatalf("stdout %q", l)
	}
	// Detach: the sentry closes its ends.
	a.hangup.Close()
	a.eof(a.outF, a.stdout, "")

	// A client that never reads its stdout.
	stalled, err := p.attach("app", false, true, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.attach("app", true, false, false)
	if err != nil {
		t.Fatal(err)
	}
	c.stdin.WriteString("flood\n")
	waitLog(t, logPath, "stdout F flooded\n")
	c.stdin.WriteString("two\n")
	waitLog(t, logPath, "stdout F got:two\n")
	c.stdin.Close() // no StdinOnce: the container's stdin stays open
	c.stdin = nil
	c.hangup.Close()
	d, err := p.attach("app", true, false, false)
	if err != nil {
		t.Fatal(err)
	}
	d.stdin.WriteString("three\n")
	waitLog(t, logPath, "stdout F got:three\n")
	// The stalled client gets the backlog and what its pipe held, no more.
	var got int
	buf := make([]byte, 1<<16)
	for {
		stalled.outF.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := stalled.outF.Read(buf)
		got += n
		if err != nil {
			break
		}
	}
	if got < control.AttachBacklog || got > control.AttachBacklog+1<<20 {
		t.Fatalf("the stalled client got %d bytes of 3000000+, want the backlog (%d) and a pipe's worth", got, control.AttachBacklog)
	}
	p.mustCall(control.MethodSignal, control.SignalRequest{ID: "app", Signal: int(unix.SIGKILL)}, nil, nil)
	p.wait("app")
	recs := readLog(t, logPath)
	out := lines(recs, "stdout")
	if len(out) != 6 || out[0] != "got:one" || len(out[2]) != 3000000 || out[3] != "flooded" || out[5] != "got:three" {
		t.Fatalf("logged %d lines", len(out))
	}

	// No stdin: a client's stdin is not connected.
	p.create("quiet", noStdio("sleep", "1000"), nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "quiet"}, nil, nil)
	q, err := p.attach("quiet", true, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if q.res.Stdin {
		t.Fatalf("attach to a container without stdin: %+v", q.res)
	}
	// Removing the container detaches.
	p.mustCall(control.MethodRemoveContainer, control.ContainerRequest{ID: "quiet"}, nil, nil)
	q.eof(q.outF, q.stdout, "")
	q.hungUp()
}

// TestPodAttachTerminal: a container on a terminal the sentry opened: the
// init sees a tty, input is echoed, the output is logged as stdout, Resize
// works, and StdinOnce types EOF when the client's stdin ends.
func TestPodAttachTerminal(t *testing.T) {
	p := startPod(t)
	proc := noStdio("sh", "-c", `test -t 0 && echo on-a-tty; read line; echo "tty:$line"; stty size; cat; echo after-eof`)
	proc.Terminal, proc.OpenStdin, proc.StdinOnce = true, true, true
	logPath := p.create("tty", proc, nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "tty"}, nil, nil)
	waitLog(t, logPath, "stdout F on-a-tty\r\n")
	a, err := p.attach("tty", true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if !a.res.Terminal || !a.res.Stdin || !a.res.StdinOnce {
		t.Fatalf("attach result %+v", a.res)
	}
	// A terminal has one output: the stderr pipe is closed at once.
	a.eof(a.errF, a.stderr, "")
	p.mustCall(control.MethodResize, control.ResizeRequest{ID: "tty", Width: 100, Height: 30}, nil, nil)
	a.stdin.WriteString("hello\r")
	want := []string{"hello\r\n", "tty:hello\r\n", "30 100\r\n"}
	for _, w := range want {
		if l := a.line(a.outF, a.stdout); l != w {
			t.Fatalf("terminal output %q, want %q", l, w)
		}
	}
	a.stdin.Close() // StdinOnce: ^D ends cat
	a.stdin = nil
	a.eof(a.outF, a.stdout, "after-eof\r\n")
	a.hungUp()
	if r := p.wait("tty"); r.ExitCode != 0 {
		t.Fatalf("wait %+v", r)
	}
	recs := readLog(t, logPath)
	out := strings.Join(lines(recs, "stdout"), "|")
	for _, w := range []string{"on-a-tty\r", "tty:hello\r", "after-eof\r"} {
		if !strings.Contains(out, w) {
			t.Errorf("log %q lacks %q", out, w)
		}
	}
	if len(lines(recs, "stderr")) != 0 {
		t.Errorf("a terminal logged stderr: %q", lines(recs, "stderr"))
	}
}
