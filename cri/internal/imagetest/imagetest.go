// Package imagetest builds images and serves them from an in-process OCI
// registry (go-containerregistry's pkg/registry) on 127.0.0.1, for the
// image store and CRI server tests. Only tests import it.
package imagetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Registry is an in-process registry.
type Registry struct {
	// Host is "127.0.0.1:port"; URL is "http://" + Host.
	Host, URL  string
	user, pass string
	// Token, when set before requests arrive, is also accepted as
	// "Authorization: Bearer <Token>" on a registry with a user.
	Token string
	// Hook, when set, is called before each request is served (to count
	// or delay requests).
	Hook func(*http.Request)

	client *http.Client // for a TLS registry
}

// NewRegistry starts a registry, closed at the end of the test. With a
// user, it demands HTTP basic auth.
func NewRegistry(t testing.TB, user, pass string) *Registry {
	t.Helper()
	return newRegistry(t, user, pass, false)
}

// NewTLSRegistry starts a registry serving HTTPS with a self-signed
// certificate (pull from it with skip_verify).
func NewTLSRegistry(t testing.TB) *Registry {
	t.Helper()
	return newRegistry(t, "", "", true)
}

func newRegistry(t testing.TB, user, pass string, tls bool) *Registry {
	reg := &Registry{user: user, pass: pass}
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if user != "" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			bearer := reg.Token != "" && r.Header.Get("Authorization") == "Bearer "+reg.Token
			if !bearer && (!ok || u != user || p != pass) {
				w.Header().Set("WWW-Authenticate", `Basic realm="imagetest"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	inner := h
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reg.Hook != nil {
			reg.Hook(r)
		}
		inner.ServeHTTP(w, r)
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
		reg.client = srv.Client()
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	reg.URL = srv.URL
	reg.Host = strings.TrimPrefix(strings.TrimPrefix(srv.URL, "http://"), "https://")
	return reg
}

func (r *Registry) opts() []remote.Option {
	var o []remote.Option
	if r.user != "" {
		o = append(o, remote.WithAuth(&authn.Basic{Username: r.user, Password: r.pass}))
	}
	if r.client != nil {
		o = append(o, remote.WithTransport(r.client.Transport))
	}
	return o
}

func (r *Registry) nameOpts() []name.Option {
	if r.client != nil {
		return nil
	}
	return []name.Option{name.Insecure}
}

// Push uploads img as repo:tag ("test/busybox:1") and returns the manifest
// digest.
func (r *Registry) Push(t testing.TB, repoTag string, img v1.Image) v1.Hash {
	t.Helper()
	ref, err := name.ParseReference(r.Host+"/"+repoTag, r.nameOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, r.opts()...); err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// PushIndex uploads idx as repo:tag and returns the index digest.
func (r *Registry) PushIndex(t testing.TB, repoTag string, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	ref, err := name.ParseReference(r.Host+"/"+repoTag, r.nameOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, r.opts()...); err != nil {
		t.Fatalf("push index %s: %v", repoTag, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Mirror writes dir/<host>/hosts.toml sending pulls of host (a fake name
// such as example.invalid) to the registry (over plain HTTP unless it is a
// TLS registry). It returns dir, a certs.d directory.
func (r *Registry) Mirror(t testing.TB, dir, host string) string {
	t.Helper()
	return r.MirrorExtra(t, dir, host, "")
}

// MirrorExtra is Mirror with extra top-level hosts.toml lines, which
// apply to the server (e.g. "skip_verify = true").
func (r *Registry) MirrorExtra(t testing.TB, dir, host, extra string) string {
	t.Helper()
	d := filepath.Join(dir, host)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf("server = %q\n%s\n", r.URL, extra)
	if err := os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Entry is one tar entry of a layer.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg (default), TypeDir, TypeSymlink, TypeLink
	Body     string
	Linkname string
	Mode     int64
}

// LayerTar builds an uncompressed layer tar.
func LayerTar(t testing.TB, entries []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Linkname, Mode: e.Mode, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			io.WriteString(tw, e.Body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Files is a convenient layer: regular files by path.
func Files(files map[string]string) []Entry {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var es []Entry
	for _, n := range names {
		es = append(es, Entry{Name: n, Body: files[n]})
	}
	return es
}

// Busybox returns a layer with /bin/busybox and a few links, or nil when
// the host has no /bin/busybox.
func Busybox(t testing.TB) []Entry {
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil
	}
	return []Entry{
		{Name: "bin/", Type: tar.TypeDir},
		{Name: "bin/busybox", Body: string(b), Mode: 0o755},
		{Name: "bin/sh", Type: tar.TypeSymlink, Linkname: "busybox"},
	}
}

// Image builds a linux image of the given arch from layers, with cmd and
// user in its config.
func Image(t testing.TB, arch string, user string, cmd []string, layers ...[]Entry) v1.Image {
	t.Helper()
	img := empty.Image
	for _, es := range layers {
		b := LayerTar(t, es)
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}, tarball.WithCompressedCaching)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Cmd = cmd
	cf.Config.User = user
	cf.Config.Env = []string{"PATH=/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// Index is a multi-arch index of the given images (each image's config
// names its platform).
func Index(t testing.TB, imgs ...v1.Image) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture}},
		})
	}
	return idx
}

// ConfigDigest is the image's ID as the CRI reports it.
func ConfigDigest(t testing.TB, img v1.Image) string {
	t.Helper()
	d, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// OCIArchive writes img as an OCI image layout tar whose index entry is
// annotated org.opencontainers.image.ref.name=refName.
func OCIArchive(t testing.TB, img v1.Image, refName string) []byte {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": refName})); err != nil {
		t.Fatal(err)
	}
	return tarDir(t, dir)
}

// DockerArchive writes img as a `docker save` tar tagged tag.
func DockerArchive(t testing.TB, img v1.Image, tag string) []byte {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tarball.Write(ref, img, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarDir(t testing.TB, dir string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tw.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	return buf.Bytes()
}
