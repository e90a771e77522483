package cri

import (
	"bytes"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// attachClient is one client-go SPDY attach in progress.
type attachClient struct {
	stdin  *io.PipeWriter
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan error
}

// syncBuffer is a bytes.Buffer for one writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// oneSize is a TerminalSizeQueue that gives one size, then blocks until
// the stream ends.
type oneSize struct {
	sz   *remotecommand.TerminalSize
	done chan struct{}
}

func (q *oneSize) Next() *remotecommand.TerminalSize {
	if sz := q.sz; sz != nil {
		q.sz = nil
		return sz
	}
	<-q.done
	return nil
}

// attachTo attaches to container id through CRI Attach and the streaming
// server with client-go's SPDY executor, as kubectl attach does.
func (d *daemon) attachTo(t *testing.T, req *runtimeapi.AttachRequest, size *remotecommand.TerminalSize) *attachClient {
	t.Helper()
	ctx := ctxT(t)
	resp, err := d.rt.Attach(ctx, req)
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	u, err := url.Parse(resp.Url)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := remotecommand.NewSPDYExecutor(&restclient.Config{}, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	a := &attachClient{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	opts := remotecommand.StreamOptions{Tty: req.Tty}
	var stdinR *io.PipeReader
	if req.Stdin {
		stdinR, a.stdin = io.Pipe()
		opts.Stdin = stdinR
	}
	if req.Stdout {
		opts.Stdout = a.stdout
	}
	if req.Stderr {
		opts.Stderr = a.stderr
	}
	sizes := &oneSize{sz: size, done: make(chan struct{})}
	if req.Tty {
		opts.TerminalSizeQueue = sizes
	}
	go func() {
		err := ex.StreamWithContext(ctx, opts)
		close(sizes.done)
		a.done <- err
	}()
	return a
}

// waitOut waits until the client's stdout contains want.
func (a *attachClient) waitOut(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(a.stdout.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("attached stdout %q never had %q", a.stdout.String(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits for the attach to end.
func (a *attachClient) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-a.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("the attach did not end; stdout %q", a.stdout.String())
		return nil
	}
}

// TestAttach: kubectl-style attaches through CRI Attach and client-go's
// SPDY executor. A stdin_once container reading one line answers on the
// attached stdout and in its log, and the attach ends with the container;
// critest's attach spec (sh, `echo -n hello`, stdin closed) passes; a
// stdin_once `cat` ends when the client's stdin does; a container with
// stdin survives a daemon restart with its stdin (a second daemon attaches
// and writes to it); a tty container echoes, knows the client's window
// size and logs its output as stdout. Attach to an exited container or one
// without a running state fails.
func TestAttach(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs)
	d.pull(t, e.image)
	logDir := t.TempDir()
	pcfg := podConfigFor("attach", logDir)
	podID := d.runPod(t, pcfg)

	// stdin without a tty.
	cfg := ctrConfig("reader", e.image, `echo ready; read line; echo got:$line; echo err:$line >&2`)
	cfg.Stdin, cfg.StdinOnce = true, true
	id := d.createStart(t, podID, pcfg, cfg)
	logPath := filepath.Join(logDir, "reader", "0.log")
	waitFile(t, logPath, "stdout F ready")
	a := d.attachTo(t, &runtimeapi.AttachRequest{ContainerId: id, Stdin: true, Stdout: true, Stderr: true}, nil)
	a.stdin.Write([]byte("hello\n"))
	if err := a.wait(t); err != nil {
		t.Fatalf("attach: %v", err)
	}
	if out, errOut := a.stdout.String(), a.stderr.String(); out != "got:hello\n" || errOut != "err:hello\n" {
		t.Errorf("attached stdout %q, stderr %q", out, errOut)
	}
	log := waitFile(t, logPath, "stderr F err:hello")
	if !strings.Contains(log, "stdout F got:hello\n") {
		t.Errorf("log %q", log)
	}
	if st := d.waitExited(t, id); st.ExitCode != 0 {
		t.Errorf("exit code %d", st.ExitCode)
	}
	_, err := d.rt.Attach(ctxT(t), &runtimeapi.AttachRequest{ContainerId: id, Stdout: true})
	wantCode(t, "Attach to an exited container", err, codes.FailedPrecondition)

	// critest's "runtime should support attach": an interactive sh.
	cfg = ctrConfig("shell", e.image)
	cfg.Command = []string{"/bin/sh"}
	cfg.Stdin, cfg.StdinOnce = true, true
	id = d.createStart(t, podID, pcfg, cfg)
	a = d.attachTo(t, &runtimeapi.AttachRequest{ContainerId: id, Stdin: true, Stdout: true, Stderr: true}, nil)
	a.stdin.Write([]byte("echo -n hello\n"))
	a.waitOut(t, "hello")
	a.stdin.Close()
	if err := a.wait(t); err != nil || a.stdout.String() != "hello" || a.stderr.String() != "" {
		t.Errorf("attach to sh: %q %q %v", a.stdout.String(), a.stderr.String(), err)
	}

	// stdin_once: the client's stdin EOF is the container's.
	cfg = ctrConfig("cat", e.image, `cat; echo done`)
	cfg.Stdin, cfg.StdinOnce = true, true
	id = d.createStart(t, podID, pcfg, cfg)
	a = d.attachTo(t, &runtimeapi.AttachRequest{ContainerId: id, Stdin: true, Stdout: true}, nil)
	a.stdin.Write([]byte("one\ntwo\n"))
	a.waitOut(t, "one\ntwo\n")
	a.stdin.Close()
	if err := a.wait(t); err != nil || a.stdout.String() != "one\ntwo\ndone\n" {
		t.Errorf("attach to cat: %q %v", a.stdout.String(), err)
	}

	// stdin across a daemon restart (no stdin_once: a detach keeps it).
	cfg = ctrConfig("echoer", e.image, `while read line; do echo got:$line; done`)
	cfg.Stdin = true
	id = d.createStart(t, podID, pcfg, cfg)
	a = d.attachTo(t, &runtimeapi.AttachRequest{ContainerId: id, Stdin: true, Stdout: true}, nil)
	a.stdin.Write([]byte("before\n"))
	a.waitOut(t, "got:before\n")
	a.stdin.Close() // detaches (no stdin_once), the container's stdin stays
	if err := a.wait(t); err != nil {
		t.Errorf("detach: %v", err)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	d = startPodDaemon(t, root, e.certs)
	a = d.attachTo(t, &runtimeapi.AttachRequest{ContainerId: id, Stdin: true, Stdout: true}, nil)
	a.stdin.Write([]byte("after\n"))
	a.waitOut(t, "got:after\n")
	a.stdin.Close()
	a.wait(t)
	waitFile(t, filepath.Join(logDir, "echoer", "0.log"), "stdout F got:after")

	// A terminal.
	cfg = ctrConfig("tty", e.image, `test -t 0 && echo on-a-tty; while read line; do stty size; [ "$line" = end ] && break; done; echo tty:$line`)
	cfg.Stdin, cfg.StdinOnce, cfg.Tty = true, true, true
	id = d.createStart(t, podID, pcfg, cfg)
	ttyLog := filepath.Join(logDir, "tty", "0.log")
	waitFile(t, ttyLog, "stdout F on-a-tty\r")
	a = d.attachTo(t, &runtimeapi.AttachRequest{ContainerId: id, Stdin: true, Stdout: true, Tty: true},
		&remotecommand.TerminalSize{Width: 100, Height: 30})
	// The window size travels on a stream of its own: type lines until
	// the terminal has it.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(a.stdout.String(), "30 100\r\n") {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never got the client's size: %q", a.stdout.String())
		}
		a.stdin.Write([]byte("x\r"))
		time.Sleep(50 * time.Millisecond)
	}
	a.stdin.Write([]byte("end\r"))
	if err := a.wait(t); err != nil {
		t.Fatalf("tty attach: %v", err)
	}
	// The echo of the input, then the output, in the terminal's CRLF.
	if out := a.stdout.String(); !strings.HasPrefix(out, "x\r\n") || !strings.HasSuffix(out, "end\r\n30 100\r\ntty:end\r\n") {
		t.Errorf("tty output %q", out)
	}
	log = waitFile(t, ttyLog, "stdout F tty:end\r")
	if strings.Contains(log, " stderr ") {
		t.Errorf("a tty container logged stderr: %q", log)
	}
}
