package cri

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPortForward forwards local ports through CRI PortForward and the
// streaming server with client-go's SPDY port-forwarder (what kubectl
// port-forward uses) to a busybox httpd in a pod (GET returns the file), to
// an httpd on ::1 only (the sentry falls back to ::1), and checks that a
// half-close reaches the pod (nc -e cat echoes until our EOF, and the
// answer still arrives after it).
func TestPortForward(t *testing.T) {
	e := newPodEnv(t)
	d := startPodDaemon(t, filepath.Join(t.TempDir(), "root"), e.certs)
	d.pull(t, e.image)
	ctx := ctxT(t)
	pcfg := podConfigFor("pf", t.TempDir())
	podID := d.runPod(t, pcfg)
	d.createStart(t, podID, pcfg, ctrConfig("web", e.image,
		"mkdir -p /tmp/www && echo served-by-httpd > /tmp/www/index.html && exec busybox httpd -f -p 8080 -h /tmp/www"))
	d.createStart(t, podID, pcfg, ctrConfig("web6", e.image,
		"mkdir -p /tmp/www6 && echo served-on-v6 > /tmp/www6/index.html && exec busybox httpd -f -p '[::1]:9090' -h /tmp/www6"))
	d.createStart(t, podID, pcfg, ctrConfig("echo", e.image, "exec busybox nc -ll -p 9091 -e busybox cat"))

	resp, err := d.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: podID, Port: []int32{8080, 9090, 9091}})
	if err != nil {
		t.Fatalf("PortForward: %v", err)
	}
	u, err := url.Parse(resp.Url)
	if err != nil {
		t.Fatal(err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(&restclient.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	stop, ready := make(chan struct{}), make(chan struct{})
	errOut := &syncWriter{b: &strings.Builder{}}
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080", "0:9090", "0:9091"}, stop, ready, io.Discard, errOut)
	if err != nil {
		t.Fatal(err)
	}
	fwdDone := make(chan error, 1)
	go func() { fwdDone <- pf.ForwardPorts() }()
	defer func() {
		close(stop)
		<-fwdDone
	}()
	select {
	case <-ready:
	case err := <-fwdDone:
		t.Fatalf("ForwardPorts: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("port forwarder not ready")
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 3 {
		t.Fatalf("GetPorts: %v %v", ports, err)
	}
	local := map[uint16]uint16{}
	for _, p := range ports {
		local[p.Remote] = p.Local
	}

	// The containers may not listen yet: retry for a while.
	get := func(port uint16) string {
		t.Helper()
		var body string
		deadline := time.Now().Add(20 * time.Second)
		for {
			r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
			if err == nil {
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				body = string(b)
				if r.StatusCode == http.StatusOK {
					return body
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET through the port-forward: %v %q (forwarder: %s)", err, body, errOut.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if body := get(local[8080]); body != "served-by-httpd\n" {
		t.Errorf("GET returned %q", body)
	}
	if body := get(local[9090]); body != "served-on-v6\n" {
		t.Errorf("GET of the ::1 server returned %q", body)
	}

	// Half-close through the whole chain: cat answers after our EOF.
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := echoOnce(fmt.Sprintf("127.0.0.1:%d", local[9091]), "there and back")
		if err == nil && got == "there and back" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("echo through the port-forward: %q %v (forwarder: %s)", got, err, errOut.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	_, err = d.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: "nope", Port: []int32{80}})
	wantCode(t, "PortForward unknown pod", err, codes.NotFound)
	_, err = d.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: podID, Port: []int32{70000}})
	wantCode(t, "PortForward bad port", err, codes.InvalidArgument)
}

// echoOnce sends msg, shuts down its write side and reads everything back.
func echoOnce(addr, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// syncWriter serialises writes to b (the forwarder logs from goroutines).
type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
