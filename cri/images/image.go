package images

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is one image as the CRI sees it: everything recorded under one
// config digest.
type Image struct {
	// ID is the config digest, "sha256:...".
	ID string
	// RepoTags are repo:tag names; RepoDigests repo@digest names.
	RepoTags, RepoDigests []string
	// Size is the bytes of content of the image (manifest, config,
	// compressed layers) for linux/amd64.
	Size uint64
	// Target is the index or manifest the image's names point at.
	Target ocispec.Descriptor
	// Config is the parsed image config; ConfigJSON its raw bytes.
	Config     ocispec.Image
	ConfigJSON []byte
	// ChainID names the image's top committed snapshot ("" without
	// layers).
	ChainID digest.Digest

	// names are all metadata records of the image, ID record included.
	names []string
}

// facts are what describe learns about an image record.
type facts struct {
	config ocispec.Descriptor
	image  ocispec.Image
	raw    []byte
	size   int64
}

// describe reads (or recalls) the config of target.
func (s *Store) describe(ctx context.Context, rec images.Image) (*facts, error) {
	s.mu.Lock()
	cd, ok := s.configs[rec.Target.Digest]
	s.mu.Unlock()
	var err error
	if !ok {
		cd, err = images.Config(ctx, s.cs, rec.Target, s.platform)
		if err != nil {
			return nil, err
		}
	}
	raw, err := content.ReadBlob(ctx, s.cs, cd)
	if err != nil {
		return nil, err
	}
	f := &facts{config: cd, raw: raw}
	if err := json.Unmarshal(raw, &f.image); err != nil {
		return nil, fmt.Errorf("image config %s: %w", cd.Digest, err)
	}
	if f.size, err = rec.Size(ctx, s.cs, s.platform); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.configs[rec.Target.Digest] = cd
	s.mu.Unlock()
	return f, nil
}

// isIDName reports whether a record name is an image ID record.
func isIDName(n string) bool {
	d, err := digest.Parse(n)
	return err == nil && d.Algorithm() == digest.SHA256
}

// List returns every image, sorted by ID.
func (s *Store) List(ctx context.Context) ([]*Image, error) {
	ctx = s.ctx(ctx)
	recs, err := s.is.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	byID := map[string]*Image{}
	for _, rec := range recs {
		f, err := s.describe(ctx, rec)
		if err != nil {
			// A record whose content is gone (or not linux/amd64) is
			// not an image we can run; say so and go on.
			s.log.Warn("image record without usable content", "name", rec.Name, "err", err)
			continue
		}
		id := f.config.Digest.String()
		img := byID[id]
		if img == nil {
			img = &Image{ID: id, Config: f.image, ConfigJSON: f.raw, Target: rec.Target, Size: uint64(f.size)}
			if ids := f.image.RootFS.DiffIDs; len(ids) > 0 {
				img.ChainID = identity.ChainID(ids)
			}
			byID[id] = img
		}
		img.names = append(img.names, rec.Name)
		if isIDName(rec.Name) {
			continue
		}
		named, err := reference.ParseNormalizedNamed(rec.Name)
		if err != nil {
			continue
		}
		if _, ok := named.(reference.Canonical); ok {
			img.RepoDigests = append(img.RepoDigests, named.String())
		} else if _, ok := named.(reference.Tagged); ok {
			img.RepoTags = append(img.RepoTags, named.String())
			img.Target = rec.Target // prefer what a tag points at
		}
	}
	out := make([]*Image, 0, len(byID))
	for _, img := range byID {
		sort.Strings(img.RepoTags)
		sort.Strings(img.RepoDigests)
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Get finds an image by ID ("sha256:..." or the bare hex, or a unique
// prefix of at least 12 hex digits), by name (busybox,
// docker.io/library/busybox:latest) or by repo@digest. An unknown image is
// an errdefs.ErrNotFound; an empty ref an errdefs.ErrInvalidArgument.
func (s *Store) Get(ctx context.Context, ref string) (*Image, error) {
	if ref == "" {
		return nil, fmt.Errorf("empty image reference: %w", errdefs.ErrInvalidArgument)
	}
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	hex := strings.TrimPrefix(ref, "sha256:")
	for _, img := range all {
		if img.ID == "sha256:"+hex {
			return img, nil
		}
	}
	if named, err := reference.ParseDockerRef(ref); err == nil {
		for _, img := range all {
			for _, n := range img.names {
				if n == named.String() {
					return img, nil
				}
			}
		}
	}
	if len(hex) >= 12 && isHex(hex) {
		var found *Image
		for _, img := range all {
			if strings.HasPrefix(img.ID, "sha256:"+hex) {
				if found != nil {
					return nil, fmt.Errorf("image ID prefix %q is ambiguous: %w", ref, errdefs.ErrInvalidArgument)
				}
				found = img
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *Store) byID(ctx context.Context, id digest.Digest) (*Image, error) {
	return s.Get(ctx, id.String())
}

// Remove deletes the image ref names, with all its other names (as
// containerd's CRI does: the kubelet removes images by ID), then collects
// its content and snapshots unless another image or a container rootfs
// still uses them. An unknown image is an errdefs.ErrNotFound.
func (s *Store) Remove(ctx context.Context, ref string) error {
	img, err := s.Get(ctx, ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	for _, n := range img.names {
		if err := s.is.Delete(ctx, n); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("removing image %s (%s): %w", ref, n, err)
		}
	}
	s.log.Info("removed image", "ref", ref, "id", img.ID)
	return s.GC(ctx)
}

// User returns the image config's user ("" if unset).
func (img *Image) User() string { return img.Config.Config.User }
