// Package images is runsc-cri's embedded image store, built from
// containerd's libraries without a containerd daemon.
//
// # Model
//
// Everything lives under one directory (Options.Root, normally
// <daemon root>/images):
//
//	content/            containerd's local content store: blobs by digest
//	snapshots/<name>/   the snapshotter: "overlayfs" where an overlay mount
//	                    with several lower dirs works in that directory
//	                    (probed at Open), otherwise "native" (full copies)
//	metadata.db         bbolt: containerd's metadata DB (image records,
//	                    content and snapshot references, leases), all in
//	                    the namespace "k8s.io"
//
// A pull resolves the reference through containerd's docker resolver, with
// registry hosts configured from a certs.d directory in containerd's
// hosts.toml layout (mirrors, `server = "http://..."` plain-HTTP hosts,
// CA files, skip_verify), fetches the index/manifest/config/layers of the
// linux/amd64 image only, unpacks the layers into the snapshotter (one
// committed snapshot per layer, named by chain ID, applied by containerd's
// diff applier, which confines every path of a layer to the snapshot: ".."
// and absolute symlinks are resolved inside it), and records image names.
//
// An image is identified as in containerd's CRI plugin: its ID is the
// digest of its config blob. Each image has up to three kinds of metadata
// records, all pointing at the pulled target (an index or a manifest):
// the reference it was pulled by (repo:tag or repo@digest), repo@digest of
// the target, and an ID record named by the ID itself, so an image whose
// tag moved to a newer image still shows in ListImages, by ID. RemoveImage
// deletes every record of the image.
//
// # Garbage collection
//
// Nothing is deleted by hand: records reference the target, blobs reference
// their children through containerd's gc.ref.content labels, the config
// blob references the image's top snapshot through a gc.ref.snapshot label,
// and snapshots reference their parents. Work in progress (a pull, an
// import, a container's rootfs) is held by a lease. After a removal, the
// metadata DB's mark-and-sweep GC deletes whatever nothing references,
// content and snapshots alike.
//
// # Concurrency
//
// The metadata DB serializes itself (bbolt transactions; GC takes the DB's
// write lock). Store.mu guards only the config cache; pulls of the same
// image may run at once (layer application tolerates a snapshot committed
// by another puller).
package images

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/diff/apply"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/metadata"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/containerd/v2/plugins/snapshots/native"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay/overlayutils"
	clog "github.com/containerd/log"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// Namespace is the containerd metadata namespace of every record.
const Namespace = "k8s.io"

// Snapshotter names.
const (
	Overlay = "overlayfs"
	Native  = "native"
)

// Options configure Open.
type Options struct {
	// Root is the store's directory (created 0700 if missing).
	Root string
	// RegistryConfigDir is a certs.d directory: <host>/hosts.toml.
	// Empty or missing: every registry is reached directly over HTTPS.
	RegistryConfigDir string
	// Snapshotter forces Overlay or Native; empty probes overlay.
	Snapshotter string
	// Log receives the store's messages; nil means slog.Default().
	Log *slog.Logger
}

// Store is the embedded image store. Its methods are safe for concurrent
// use.
type Store struct {
	root     string
	regDir   string
	log      *slog.Logger
	bdb      *bolt.DB
	db       *metadata.DB
	cs       content.Store
	sn       snapshots.Snapshotter
	snName   string
	is       images.Store
	lm       leases.Manager
	applier  diff.Applier
	platform platforms.MatchComparer

	mu sync.Mutex
	// configs caches target digest -> config descriptor (immutable facts
	// about content-addressed blobs). Guarded by mu.
	configs map[digest.Digest]ocispec.Descriptor
}

// Platform is the only platform pulled and unpacked.
var Platform = ocispec.Platform{OS: "linux", Architecture: "amd64"}

// Open opens (creating if needed) the store at o.Root. Only one process
// may have a store open: a second Open fails after a few seconds with an
// error saying the store is in use.
func Open(ctx context.Context, o Options) (_ *Store, retErr error) {
	if o.Root == "" {
		return nil, errors.New("images: empty root")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	// containerd's libraries log through logrus; keep them quiet unless
	// we are debugging (they warn, e.g., about missing fs-verity).
	if !o.Log.Enabled(ctx, slog.LevelDebug) {
		clog.SetLevel("error")
	}
	if err := os.MkdirAll(o.Root, 0o700); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	s := &Store{
		root:     o.Root,
		regDir:   o.RegistryConfigDir,
		log:      o.Log,
		platform: platforms.Only(Platform),
		configs:  map[digest.Digest]ocispec.Descriptor{},
	}
	cs, err := local.NewStore(filepath.Join(o.Root, "content"))
	if err != nil {
		return nil, fmt.Errorf("images: content store: %w", err)
	}
	s.snName, s.sn, err = openSnapshotter(o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			s.sn.Close()
		}
	}()
	s.bdb, err = bolt.Open(filepath.Join(o.Root, "metadata.db"), 0o600, &bolt.Options{Timeout: 3 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("images: %s is in use by another process (a running daemon?)", o.Root)
		}
		return nil, fmt.Errorf("images: metadata: %w", err)
	}
	defer func() {
		if retErr != nil {
			s.bdb.Close()
		}
	}()
	s.db = metadata.NewDB(s.bdb, cs, map[string]snapshots.Snapshotter{s.snName: s.sn})
	if err := s.db.Init(ctx); err != nil {
		return nil, fmt.Errorf("images: metadata init: %w", err)
	}
	s.cs = s.db.ContentStore()
	s.is = metadata.NewImageStore(s.db)
	s.lm = metadata.NewLeaseManager(s.db)
	s.applier = apply.NewFileSystemApplier(s.cs)
	s.sn = s.db.Snapshotter(s.snName)
	// Collect what an interrupted pull or a crash left behind.
	if _, err := s.db.GarbageCollect(s.ctx(ctx)); err != nil {
		s.log.Warn("image store: garbage collection at open failed", "err", err)
	}
	s.log.Info("image store open", "root", o.Root, "snapshotter", s.snName)
	return s, nil
}

func openSnapshotter(o Options) (string, snapshots.Snapshotter, error) {
	name := o.Snapshotter
	dir := func(n string) string { return filepath.Join(o.Root, "snapshots", n) }
	if name == "" {
		name = Native
		if err := overlayutils.Supported(dir(Overlay)); err == nil {
			name = Overlay
		} else {
			o.Log.Info("overlayfs unusable here, using native snapshots (full copies)", "err", err)
		}
	}
	var sn snapshots.Snapshotter
	var err error
	switch name {
	case Overlay:
		sn, err = overlay.NewSnapshotter(dir(Overlay))
	case Native:
		sn, err = native.NewSnapshotter(dir(Native))
	default:
		return "", nil, fmt.Errorf("images: unknown snapshotter %q", name)
	}
	if err != nil {
		return "", nil, fmt.Errorf("images: %s snapshotter: %w", name, err)
	}
	return name, sn, nil
}

// Close closes the store. In-flight calls must have returned.
func (s *Store) Close() error {
	err := s.sn.Close()
	return errors.Join(err, s.bdb.Close())
}

// Snapshotter names the snapshotter in use (Overlay or Native).
func (s *Store) Snapshotter() string { return s.snName }

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

// ctx puts the store's namespace into ctx.
func (s *Store) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, Namespace)
}

// withLease runs f under a fresh lease that expires on its own after a
// day if we die before deleting it.
func (s *Store) withLease(ctx context.Context, f func(ctx context.Context) error) error {
	l, err := s.lm.Create(ctx, leases.WithRandomID(), leases.WithExpiration(24*time.Hour))
	if err != nil {
		return fmt.Errorf("images: lease: %w", err)
	}
	err = f(leases.WithLease(ctx, l.ID))
	if derr := s.lm.Delete(context.WithoutCancel(ctx), l); derr != nil {
		s.log.Warn("image store: deleting lease", "lease", l.ID, "err", derr)
	}
	return err
}

// GC runs the metadata garbage collector now: content and snapshots that
// no image, lease or parent references are deleted.
func (s *Store) GC(ctx context.Context) error {
	st, err := s.db.GarbageCollect(s.ctx(ctx))
	if err != nil {
		return fmt.Errorf("images: gc: %w", err)
	}
	s.log.Debug("image store gc", "elapsed", st.Elapsed())
	return nil
}
