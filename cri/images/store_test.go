package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/runsc-cri/runsc-cri/cri/internal/imagetest"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("unpacking layers mounts snapshots: needs root")
	}
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func openStore(t *testing.T, regDir, snapshotter string) *Store {
	t.Helper()
	needRoot(t)
	s, err := Open(context.Background(), Options{Root: filepath.Join(t.TempDir(), "images"), RegistryConfigDir: regDir, Snapshotter: snapshotter, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// countDir counts entries of dir (0 if it does not exist).
func countDir(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return len(es)
}

func (s *Store) blobCount(t *testing.T) int {
	return countDir(t, filepath.Join(s.root, "content", "blobs", "sha256"))
}

func (s *Store) snapshotCount(t *testing.T) int {
	return countDir(t, filepath.Join(s.root, "snapshots", s.snName, "snapshots"))
}

// withRootfs mounts a rootfs of ref and calls f with its directory.
func withRootfs(t *testing.T, s *Store, ref, key string, f func(dir string)) {
	t.Helper()
	ctx := context.Background()
	r, cleanup, err := s.PrepareRootfs(ctx, ref, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := r.Dir
	if dir == "" {
		dir = t.TempDir()
		if err := r.Mount(dir); err != nil {
			t.Fatal(err)
		}
	}
	f(dir)
	if r.Dir == "" {
		if err := Unmount(dir); err != nil {
			t.Fatal(err)
		}
	}
	if err := cleanup(ctx); err != nil {
		t.Fatal(err)
	}
}

func testPullRootfsGC(t *testing.T, snapshotter string) {
	reg := imagetest.NewRegistry(t, "", "")
	certs := reg.Mirror(t, t.TempDir(), "example.invalid")
	img := imagetest.Image(t, "amd64", "1000:1000", []string{"/bin/sh"},
		imagetest.Busybox(t), imagetest.Files(map[string]string{"etc/hello": "hello\n"}),
		[]imagetest.Entry{{Name: "etc/hello", Body: "second layer wins\n"}})
	manifest := reg.Push(t, "test/busybox:1", img)
	s := openStore(t, certs, snapshotter)
	if s.Snapshotter() != snapshotter && snapshotter != "" {
		t.Fatalf("snapshotter %s, want %s", s.Snapshotter(), snapshotter)
	}
	ctx := context.Background()
	got, err := s.Pull(ctx, "example.invalid/test/busybox:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := imagetest.ConfigDigest(t, img); got.ID != want {
		t.Errorf("ID %s, want %s", got.ID, want)
	}
	if len(got.RepoTags) != 1 || got.RepoTags[0] != "example.invalid/test/busybox:1" {
		t.Errorf("RepoTags %q", got.RepoTags)
	}
	if len(got.RepoDigests) != 1 || got.RepoDigests[0] != "example.invalid/test/busybox@"+manifest.String() {
		t.Errorf("RepoDigests %q, want @%s", got.RepoDigests, manifest)
	}
	withRootfs(t, s, "example.invalid/test/busybox:1", "c1", func(dir string) {
		b, err := os.ReadFile(filepath.Join(dir, "etc/hello"))
		if err != nil || string(b) != "second layer wins\n" {
			t.Errorf("etc/hello: %q, %v", b, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "written"), []byte("x"), 0o644); err != nil {
			t.Errorf("rootfs not writable: %v", err)
		}
		u, err := s.RootfsUsage(ctx, "c1")
		if err != nil || u.Inodes == 0 {
			t.Errorf("RootfsUsage %+v, %v", u, err)
		}
	})
	// A rootfs holds the snapshots against removal of its image.
	r, cleanup, err := s.PrepareRootfs(ctx, got.ID, "c2")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PrepareRootfs(ctx, got.ID, "c2"); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second PrepareRootfs c2: %v, want AlreadyExists", err)
	}
	if err := s.Remove(ctx, "example.invalid/test/busybox:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, got.ID); !errdefs.IsNotFound(err) {
		t.Errorf("Get after Remove: %v", err)
	}
	if n := s.snapshotCount(t); n != 4 { // 3 layers + c2
		t.Errorf("%d snapshots with a rootfs in use, want 4", n)
	}
	if _, err := s.RootfsMounts(ctx, r.Key); err != nil {
		t.Errorf("RootfsMounts: %v", err)
	}
	if err := cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRootfs(ctx, "c2"); err != nil {
		t.Errorf("RemoveRootfs twice: %v", err)
	}
	if err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if n, m := s.blobCount(t), s.snapshotCount(t); n != 0 || m != 0 {
		t.Errorf("after remove and gc: %d blobs, %d snapshots left", n, m)
	}
}

func TestPullRootfsGCOverlay(t *testing.T) {
	needRoot(t)
	if err := overlaySupported(t); err != nil {
		t.Skipf("overlayfs does not mount here: %v", err)
	}
	testPullRootfsGC(t, Overlay)
}

func TestPullRootfsGCNative(t *testing.T) { testPullRootfsGC(t, Native) }

func overlaySupported(t *testing.T) error {
	s := openStore(t, "", "")
	if s.Snapshotter() != Overlay {
		return errors.New("probe chose native")
	}
	return nil
}

func TestPullMultiArchPicksAmd64(t *testing.T) {
	reg := imagetest.NewRegistry(t, "", "")
	certs := reg.Mirror(t, t.TempDir(), "example.invalid")
	amd := imagetest.Image(t, "amd64", "", nil, imagetest.Files(map[string]string{"arch": "amd64"}))
	arm := imagetest.Image(t, "arm64", "", nil, imagetest.Files(map[string]string{"arch": "arm64"}))
	idx := reg.PushIndex(t, "test/multi:1", imagetest.Index(t, arm, amd))
	s := openStore(t, certs, "")
	ctx := context.Background()
	got, err := s.Pull(ctx, "example.invalid/test/multi@"+idx.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := imagetest.ConfigDigest(t, amd); got.ID != want {
		t.Fatalf("ID %s, want the amd64 config %s", got.ID, want)
	}
	if len(got.RepoTags) != 0 || len(got.RepoDigests) != 1 {
		t.Errorf("pulled by digest: tags %q digests %q", got.RepoTags, got.RepoDigests)
	}
	withRootfs(t, s, got.ID, "m", func(dir string) {
		if b, _ := os.ReadFile(filepath.Join(dir, "arch")); string(b) != "amd64" {
			t.Errorf("arch file %q", b)
		}
	})
}

// TestHostileLayer pulls a layer that tries to write outside its snapshot
// with "..", absolute and relative symlinks, and a hard link, and checks
// that everything landed inside.
func TestHostileLayer(t *testing.T) {
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	os.WriteFile(victim, []byte("untouched"), 0o644)
	up := strings.Repeat("../", 20)
	layer := []imagetest.Entry{
		{Name: up + outside[1:] + "/dotdot", Body: "escaped"},
		{Name: "abs", Type: tar.TypeSymlink, Linkname: outside},
		{Name: "abs/through-abs", Body: "escaped"},
		{Name: "rel", Type: tar.TypeSymlink, Linkname: up + outside[1:]},
		{Name: "rel/through-rel", Body: "escaped"},
		{Name: "abs/victim", Body: "inside"},
		{Name: "hard", Type: tar.TypeLink, Linkname: up + outside[1:] + "/victim"},
	}
	reg := imagetest.NewRegistry(t, "", "")
	certs := reg.Mirror(t, t.TempDir(), "example.invalid")
	reg.Push(t, "test/hostile:1", imagetest.Image(t, "amd64", "", nil, layer))
	s := openStore(t, certs, "")
	ctx := context.Background()
	_, err := s.Pull(ctx, "example.invalid/test/hostile:1", nil)
	if err != nil {
		t.Errorf("hostile layer refused (it should be confined): %v", err)
	}
	es, _ := os.ReadDir(outside)
	for _, e := range es {
		if e.Name() != "victim" {
			t.Errorf("layer wrote %s outside the snapshot", e.Name())
		}
	}
	b, _ := os.ReadFile(victim)
	var st syscall.Stat_t
	syscall.Stat(victim, &st)
	if string(b) != "untouched" || st.Nlink != 1 {
		t.Errorf("victim: %q, %d links", b, st.Nlink)
	}
	if err != nil {
		return
	}
	withRootfs(t, s, "example.invalid/test/hostile:1", "h", func(dir string) {
		// The writes through the symlinks were resolved inside the rootfs.
		for _, p := range []string{"dotdot", "through-abs", "through-rel", "victim"} {
			if _, err := os.Stat(filepath.Join(dir, outside, p)); err != nil {
				t.Errorf("%s not inside the rootfs: %v", p, err)
			}
		}
		if b, err := os.ReadFile(filepath.Join(dir, "hard")); err != nil || string(b) != "inside" {
			t.Errorf("hard link inside the rootfs: %q, %v", b, err)
		}
	})
}

func TestImportArchives(t *testing.T) {
	s := openStore(t, "", "")
	ctx := context.Background()
	img := imagetest.Image(t, "amd64", "", []string{"/bin/sh"}, imagetest.Files(map[string]string{"etc/os": "imported\n"}))
	id := imagetest.ConfigDigest(t, img)

	oci := imagetest.OCIArchive(t, img, "1.0")
	got, err := s.Import(ctx, bytes.NewReader(oci), "example.invalid/air/gapped")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != id || len(got[0].RepoTags) != 1 || got[0].RepoTags[0] != "example.invalid/air/gapped:1.0" {
		t.Fatalf("OCI import: %+v", got)
	}
	withRootfs(t, s, "example.invalid/air/gapped:1.0", "i", func(dir string) {
		if b, _ := os.ReadFile(filepath.Join(dir, "etc/os")); string(b) != "imported\n" {
			t.Errorf("etc/os %q", b)
		}
	})

	img2 := imagetest.Image(t, "amd64", "", nil, imagetest.Files(map[string]string{"etc/os": "docker\n"}))
	got, err = s.Import(ctx, bytes.NewReader(imagetest.DockerArchive(t, img2, "saved/by-docker:2")), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != imagetest.ConfigDigest(t, img2) || len(got[0].RepoTags) != 1 || got[0].RepoTags[0] != "docker.io/saved/by-docker:2" {
		t.Fatalf("docker-save import: %+v", got)
	}
	all, err := s.List(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("List: %d images, %v", len(all), err)
	}
	if _, err := s.Import(ctx, strings.NewReader("not a tar"), ""); !errdefs.IsInvalidArgument(err) {
		t.Errorf("garbage archive: %v, want InvalidArgument", err)
	}
}

func TestGetRefs(t *testing.T) {
	s := openStore(t, "", "")
	ctx := context.Background()
	img := imagetest.Image(t, "amd64", "", nil, imagetest.Files(map[string]string{"a": "b"}))
	if _, err := s.Import(ctx, bytes.NewReader(imagetest.DockerArchive(t, img, "busybox:latest")), ""); err != nil {
		t.Fatal(err)
	}
	id := imagetest.ConfigDigest(t, img)
	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest", id, strings.TrimPrefix(id, "sha256:"), strings.TrimPrefix(id, "sha256:")[:12]} {
		if got, err := s.Get(ctx, ref); err != nil || got.ID != id {
			t.Errorf("Get(%q): %v", ref, err)
		}
	}
	for _, ref := range []string{"busybox:2", "nothere", "sha256:" + strings.Repeat("0", 64)} {
		if _, err := s.Get(ctx, ref); !errdefs.IsNotFound(err) {
			t.Errorf("Get(%q): %v, want NotFound", ref, err)
		}
	}
	if _, err := s.Get(ctx, ""); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Get(\"\"): %v", err)
	}
	if _, err := s.Pull(ctx, "Bad Ref!", nil); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Pull(bad): %v", err)
	}
}

func TestPullSkipVerify(t *testing.T) {
	reg := imagetest.NewTLSRegistry(t)
	reg.Push(t, "test/tls:1", imagetest.Image(t, "amd64", "", nil, imagetest.Files(map[string]string{"a": "b"})))
	ctx := context.Background()
	strict := openStore(t, reg.Mirror(t, t.TempDir(), "example.invalid"), "")
	if _, err := strict.Pull(ctx, "example.invalid/test/tls:1", nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("pull from a self-signed registry without skip_verify: %v", err)
	}
	lax := openStore(t, reg.MirrorExtra(t, t.TempDir(), "example.invalid", "skip_verify = true"), "")
	if _, err := lax.Pull(ctx, "example.invalid/test/tls:1", nil); err != nil {
		t.Errorf("pull with skip_verify: %v", err)
	}
}

// TestPullThroughMirrorHost pulls through a [host."http://..."] mirror
// whose upstream server does not exist.
func TestPullThroughMirrorHost(t *testing.T) {
	reg := imagetest.NewRegistry(t, "", "")
	reg.Push(t, "library/app:1", imagetest.Image(t, "amd64", "", nil, imagetest.Files(map[string]string{"a": "b"})))
	certs := t.TempDir()
	os.MkdirAll(filepath.Join(certs, "docker.io"), 0o755)
	toml := "server = \"https://registry.example.invalid\"\n\n[host.\"" + reg.URL + "\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
	os.WriteFile(filepath.Join(certs, "docker.io", "hosts.toml"), []byte(toml), 0o644)
	s := openStore(t, certs, "")
	img, err := s.Pull(context.Background(), "app:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.RepoTags) != 1 || img.RepoTags[0] != "docker.io/library/app:1" {
		t.Errorf("RepoTags %q", img.RepoTags)
	}
}
