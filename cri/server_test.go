package cri

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/config"
	"github.com/runsc-cri/runsc-cri/cri/internal/imagetest"
)

// daemon is a real server on a temp socket and root, with clients.
type daemon struct {
	cfg    config.Config
	srv    *Server
	rt     runtimeapi.RuntimeServiceClient
	im     runtimeapi.ImageServiceClient
	stop   func() error
	socket string
}

func startDaemon(t *testing.T, certs string) *daemon {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the image store mounts snapshots: needs root")
	}
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Socket = filepath.Join(dir, "run", "cri.sock")
	if testSocket != "" {
		cfg.Socket = testSocket
	}
	cfg.Root = filepath.Join(dir, "root")
	cfg.RegistryConfigDir = certs
	// No CNI network unless a test gives one: a config on the host
	// (/etc/cni/net.d) must not change what the tests see.
	cfg.CNIConfDir = t.TempDir()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, cfg, WithLogger(log), WithVersion("1.2.3-test"))
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ready) }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("Serve: %v", err)
	}
	conn, err := grpc.NewClient("unix://"+cfg.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cfg: cfg, srv: srv, socket: cfg.Socket,
		rt: runtimeapi.NewRuntimeServiceClient(conn), im: runtimeapi.NewImageServiceClient(conn)}
	stopped := false
	d.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := <-errc
		conn.Close()
		return err
	}
	t.Cleanup(func() { d.stop() })
	return d
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, what string, err error, c codes.Code) {
	t.Helper()
	if got := status.Code(err); got != c {
		t.Errorf("%s: code %v (%v), want %v", what, got, err, c)
	}
}

func spec(ref string) *runtimeapi.ImageSpec { return &runtimeapi.ImageSpec{Image: ref} }

func TestVersionStatusRuntimeConfig(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	ctx := ctxT(t)
	v, err := d.rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v.RuntimeName != "runsc-cri" || v.RuntimeVersion != "1.2.3-test" || v.RuntimeApiVersion != "v1" {
		t.Errorf("Version: %+v", v)
	}
	st, err := d.rt.Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	conds := map[string]*runtimeapi.RuntimeCondition{}
	for _, c := range st.Status.Conditions {
		conds[c.Type] = c
	}
	if c := conds[runtimeapi.RuntimeReady]; c == nil || !c.Status {
		t.Errorf("RuntimeReady: %v", c)
	}
	if c := conds[runtimeapi.NetworkReady]; c == nil || c.Status || c.Reason != "NetworkPluginNotReady" {
		t.Errorf("NetworkReady: %v", c)
	}
	var names []string
	for _, h := range st.RuntimeHandlers {
		names = append(names, h.Name)
	}
	want := "|runsc|runsc-ptrace"
	// The test server has the default platforms (ptrace only), so
	// runsc-kvm is not offered even where /dev/kvm exists.
	if got := strings.Join(names, "|"); got != want {
		t.Errorf("runtime handlers %q, want %q", got, want)
	}
	if !strings.Contains(st.Info["info"], `"snapshotter"`) {
		t.Errorf("verbose info: %q", st.Info)
	}
	rc, err := d.rt.RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Linux.CgroupDriver != cgroupDriver() {
		t.Errorf("cgroup driver %v", rc.Linux.CgroupDriver)
	}
	_, err = d.rt.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "10.88.0.0/16"}}})
	if err != nil || d.srv.PodCIDR() != "10.88.0.0/16" {
		t.Errorf("UpdateRuntimeConfig: %v, cidr %q", err, d.srv.PodCIDR())
	}
	if p, err := d.srv.handlerPlatform("runsc-ptrace"); p != "ptrace" || err != nil {
		t.Errorf("handler runsc-ptrace: %q %v", p, err)
	}
	if _, err := d.srv.handlerPlatform("runc"); code(err) != codes.InvalidArgument {
		t.Errorf("handler runc: %v", err)
	}
}

func TestUnimplementedCalls(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	ctx := ctxT(t)
	_, err := d.rt.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: "x", Stdout: true})
	wantCode(t, "Attach unknown container", err, codes.NotFound)
	_, err = d.rt.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{})
	wantCode(t, "CheckpointContainer", err, codes.Unimplemented)
	// Bad pod requests need no sentry.
	_, err = d.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{})
	wantCode(t, "RunPodSandbox without metadata", err, codes.InvalidArgument)
	_, err = d.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: "nope", Cmd: []string{"true"}})
	wantCode(t, "ExecSync unknown container", err, codes.NotFound)
}

func TestErrorCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		code codes.Code
	}{
		{nil, codes.OK},
		{errors.New("plain"), codes.Unknown},
		{wrap("pod %q", ErrNotFound), codes.NotFound},
		{wrap("name taken", ErrAlreadyExists), codes.AlreadyExists},
		{wrap("bad", ErrInvalidArgument), codes.InvalidArgument},
		{wrap("not running", ErrFailedPrecondition), codes.FailedPrecondition},
		{wrap("exec", ErrDeadlineExceeded), codes.DeadlineExceeded},
		{wrap("later", ErrUnimplemented), codes.Unimplemented},
		{status.Error(codes.Aborted, "as is"), codes.Aborted},
	} {
		if got := code(c.err); got != c.code {
			t.Errorf("code(%v) = %v, want %v", c.err, got, c.code)
		}
		if c.err != nil && status.Convert(toStatus(c.err)).Message() != c.err.Error() && status.Code(c.err) == codes.Unknown {
			t.Errorf("toStatus(%v) lost the message", c.err)
		}
	}
}

func wrap(msg string, err error) error { return errors.Join(errors.New(msg), err) }

// imageEnv is a registry with a busybox-like image and a multi-arch
// index, reachable as example.invalid through a hosts.toml mirror.
type imageEnv struct {
	certs                string
	img                  string // config digest of test/busybox:1
	manifest, multiIndex string
	multiAmd             string
}

func newImageEnv(t *testing.T, reg *imagetest.Registry) *imageEnv {
	e := &imageEnv{certs: reg.Mirror(t, t.TempDir(), "example.invalid")}
	img := imagetest.Image(t, "amd64", "1000:1000", []string{"/bin/sh", "-c", "echo hi"},
		imagetest.Busybox(t), imagetest.Files(map[string]string{"etc/hello": "hello\n"}))
	e.img = imagetest.ConfigDigest(t, img)
	e.manifest = reg.Push(t, "test/busybox:1", img).String()
	amd := imagetest.Image(t, "amd64", "daemon", nil, imagetest.Files(map[string]string{"arch": "amd64"}))
	arm := imagetest.Image(t, "arm64", "daemon", nil, imagetest.Files(map[string]string{"arch": "arm64"}))
	e.multiAmd = imagetest.ConfigDigest(t, amd)
	e.multiIndex = reg.PushIndex(t, "test/multi:1", imagetest.Index(t, arm, amd)).String()
	return e
}

func (d *daemon) usage(t *testing.T) uint64 {
	t.Helper()
	fi, err := d.im.ImageFsInfo(ctxT(t), &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fi.ImageFilesystems) != 1 || fi.ImageFilesystems[0].FsId.Mountpoint == "" {
		t.Fatalf("ImageFsInfo: %v", fi)
	}
	return fi.ImageFilesystems[0].UsedBytes.Value
}

func (d *daemon) storeCounts(t *testing.T) (blobs, snaps int) {
	root := d.srv.Images().Root()
	b, _ := os.ReadDir(filepath.Join(root, "content", "blobs", "sha256"))
	s, _ := os.ReadDir(filepath.Join(root, "snapshots", d.srv.Images().Snapshotter(), "snapshots"))
	return len(b), len(s)
}

func (d *daemon) list(t *testing.T, filter string) []*runtimeapi.Image {
	t.Helper()
	r := &runtimeapi.ListImagesRequest{}
	if filter != "" {
		r.Filter = &runtimeapi.ImageFilter{Image: spec(filter)}
	}
	resp, err := d.im.ListImages(ctxT(t), r)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Images
}

func TestImageService(t *testing.T) {
	reg := imagetest.NewRegistry(t, "", "")
	e := newImageEnv(t, reg)
	d := startDaemon(t, e.certs)
	ctx := ctxT(t)
	base := d.usage(t)

	// Pull by tag.
	const tag = "example.invalid/test/busybox:1"
	p, err := d.im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(tag)})
	if err != nil {
		t.Fatal(err)
	}
	if p.ImageRef != e.img {
		t.Fatalf("ImageRef %s, want %s", p.ImageRef, e.img)
	}
	pulled := d.usage(t)
	if pulled <= base {
		t.Errorf("ImageFsInfo did not grow: %d -> %d", base, pulled)
	}
	// Pull the multi-arch index by digest.
	byDigest := "example.invalid/test/multi@" + e.multiIndex
	p, err = d.im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(byDigest)})
	if err != nil {
		t.Fatal(err)
	}
	if p.ImageRef != e.multiAmd {
		t.Fatalf("multi-arch ImageRef %s, want the amd64 image %s", p.ImageRef, e.multiAmd)
	}

	// List, with and without filter.
	if all := d.list(t, ""); len(all) != 2 {
		t.Fatalf("ListImages: %d images", len(all))
	}
	got := d.list(t, "example.invalid/test/busybox:1")
	if len(got) != 1 || got[0].Id != e.img || got[0].RepoTags[0] != tag ||
		got[0].RepoDigests[0] != "example.invalid/test/busybox@"+e.manifest || got[0].Uid.GetValue() != 1000 || got[0].Size == 0 {
		t.Fatalf("ListImages(filter): %v", got)
	}
	if got := d.list(t, e.multiAmd); len(got) != 1 || got[0].Username != "daemon" || len(got[0].RepoTags) != 0 {
		t.Errorf("ListImages(id filter): %v", got)
	}
	if got := d.list(t, "example.invalid/test/nothere:1"); len(got) != 0 {
		t.Errorf("ListImages(unknown): %v", got)
	}

	// Status, verbose.
	st, err := d.im.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(e.img), Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		ImageSpec struct {
			Architecture string
			Config       struct{ Cmd []string }
		} `json:"imageSpec"`
		ChainID string `json:"chainID"`
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil {
		t.Fatalf("verbose info %q: %v", st.Info, err)
	}
	if st.Image.Id != e.img || info.ImageSpec.Architecture != "amd64" || strings.Join(info.ImageSpec.Config.Cmd, " ") != "/bin/sh -c echo hi" || info.ChainID == "" {
		t.Errorf("ImageStatus: %v %+v", st.Image, info)
	}

	// Remove by tag (the whole image goes), by ID, by digest.
	if _, err := d.im.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec(tag)}); err != nil {
		t.Fatal(err)
	}
	if st, err := d.im.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(e.img)}); err != nil || st.Image != nil {
		t.Errorf("ImageStatus after remove: %v, %v", st, err)
	}
	if _, err := d.im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(tag)}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.im.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec(e.img)}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.im.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec(byDigest)}); err != nil {
		t.Fatal(err)
	}
	if all := d.list(t, ""); len(all) != 0 {
		t.Fatalf("images left: %v", all)
	}
	if b, s := d.storeCounts(t); b != 0 || s != 0 {
		t.Errorf("after removing everything: %d blobs, %d snapshots left", b, s)
	}
	if after := d.usage(t); after >= pulled || after > base+64<<10 {
		t.Errorf("ImageFsInfo after removal %d (base %d, pulled %d)", after, base, pulled)
	}

	// An imported image is served like a pulled one.
	img := imagetest.Image(t, "amd64", "", nil, imagetest.Files(map[string]string{"x": "y"}))
	if _, err := d.srv.Images().Import(ctx, bytes.NewReader(imagetest.OCIArchive(t, img, "example.invalid/air/gapped:1")), ""); err != nil {
		t.Fatal(err)
	}
	if got := d.list(t, "example.invalid/air/gapped:1"); len(got) != 1 || got[0].Id != imagetest.ConfigDigest(t, img) {
		t.Errorf("imported image: %v", got)
	}
}

func TestImageBadRequests(t *testing.T) {
	reg := imagetest.NewRegistry(t, "", "")
	d := startDaemon(t, reg.Mirror(t, t.TempDir(), "example.invalid"))
	ctx := ctxT(t)
	_, err := d.im.PullImage(ctx, &runtimeapi.PullImageRequest{})
	wantCode(t, "PullImage(no image)", err, codes.InvalidArgument)
	_, err = d.im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("Not A Ref!")})
	wantCode(t, "PullImage(malformed)", err, codes.InvalidArgument)
	_, err = d.im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("example.invalid/test/nothere:1")})
	wantCode(t, "PullImage(unknown)", err, codes.NotFound)
	_, err = d.im.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec("")})
	wantCode(t, "ImageStatus(empty)", err, codes.InvalidArgument)
	st, err := d.im.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec("example.invalid/test/nothere:1")})
	if err != nil || st.Image != nil {
		t.Errorf("ImageStatus(unknown): %v, %v (want no image, no error)", st, err)
	}
	_, err = d.im.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec("example.invalid/test/nothere:1")})
	wantCode(t, "RemoveImage(unknown) is idempotent", err, codes.OK)
	_, err = d.im.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{})
	wantCode(t, "RemoveImage(empty)", err, codes.InvalidArgument)
}

func TestPullAuth(t *testing.T) {
	reg := imagetest.NewRegistry(t, "alice", "s3cret")
	img := imagetest.Image(t, "amd64", "", nil, imagetest.Files(map[string]string{"private": "yes"}))
	reg.Push(t, "private/app:1", img)
	d := startDaemon(t, reg.Mirror(t, t.TempDir(), "example.invalid"))
	ctx := ctxT(t)
	const ref = "example.invalid/private/app:1"
	_, err := d.im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(ref)})
	wantCode(t, "pull without credentials", err, codes.Unauthenticated)
	_, err = d.im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(ref), Auth: &runtimeapi.AuthConfig{Username: "alice", Password: "wrong"}})
	wantCode(t, "pull with a wrong password", err, codes.Unauthenticated)
	for _, a := range []*runtimeapi.AuthConfig{
		{Username: "alice", Password: "s3cret"},
		{Auth: base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))},
		{Username: "alice", Password: "s3cret", ServerAddress: reg.Host},
	} {
		p, err := d.im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(ref), Auth: a})
		if err != nil {
			t.Errorf("pull with %+v: %v", a, err)
			continue
		}
		if p.ImageRef != imagetest.ConfigDigest(t, img) {
			t.Errorf("ImageRef %s", p.ImageRef)
		}
	}
	// A registry token is sent as a bearer token.
	reg.Token = "tok-123"
	_, err = d.im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(ref), Auth: &runtimeapi.AuthConfig{RegistryToken: "tok-123"}})
	wantCode(t, "pull with a registry token", err, codes.OK)
	// Credentials for another server are not sent.
	_, err = d.im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(ref), Auth: &runtimeapi.AuthConfig{Username: "alice", Password: "s3cret", ServerAddress: "other.invalid"}})
	wantCode(t, "credentials for another server", err, codes.Unauthenticated)
}

func TestShutdownAndStaleSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "new", "cri.sock")
	// A stale socket: bound, nobody listening.
	os.MkdirAll(filepath.Dir(sock), 0o700)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	d := startDaemonAt(t, sock)
	if _, err := d.rt.Version(ctxT(t), &runtimeapi.VersionRequest{}); err != nil {
		t.Fatalf("Version after replacing a stale socket: %v", err)
	}
	// A live socket is not stolen.
	if _, err := listen(sock); err == nil || !strings.Contains(err.Error(), "another daemon") {
		t.Errorf("listen on a live socket: %v", err)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after shutdown: %v", err)
	}
	// The socket directory is created 0700.
	sock2 := filepath.Join(dir, "fresh", "cri.sock")
	l2, err := listen(sock2)
	if err != nil {
		t.Fatal(err)
	}
	l2.Close()
	if fi, err := os.Stat(filepath.Dir(sock2)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode %v, %v", fi.Mode(), err)
	}
}

func startDaemonAt(t *testing.T, sock string) *daemon {
	t.Helper()
	// startDaemon picks its own socket; rebind it here.
	old := testSocket
	testSocket = sock
	defer func() { testSocket = old }()
	return startDaemon(t, t.TempDir())
}

// testSocket, when set, overrides the socket startDaemon uses.
var testSocket string

// TestShutdownFinishesInFlight stops the daemon while a pull is waiting on
// the registry: the pull completes, then Serve returns.
func TestShutdownFinishesInFlight(t *testing.T) {
	reg := imagetest.NewRegistry(t, "", "")
	img := imagetest.Image(t, "amd64", "", nil, imagetest.Files(map[string]string{"slow": "1"}))
	reg.Push(t, "test/slow:1", img)
	started := make(chan struct{}, 100)
	reg.Hook = func(r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/") {
			started <- struct{}{}
			time.Sleep(300 * time.Millisecond)
		}
	}
	d := startDaemon(t, reg.Mirror(t, t.TempDir(), "example.invalid"))
	errc := make(chan error, 1)
	go func() {
		_, err := d.im.PullImage(ctxT(t), &runtimeapi.PullImageRequest{Image: spec("example.invalid/test/slow:1")})
		errc <- err
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- d.stop() }()
	if err := <-errc; err != nil {
		t.Errorf("in-flight pull: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
