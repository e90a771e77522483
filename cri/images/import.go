package images

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Import loads an OCI image layout or a `docker save` archive (a tar
// stream, uncompressed) and unpacks its linux/amd64 images. Each image is
// named by its io.containerd.image.name annotation (docker-save RepoTags
// become those), else by an org.opencontainers.image.ref.name annotation
// that is a full reference; a bare tag there ("latest") is joined to
// baseName when baseName is set. Images without a usable name are still
// imported and listed by ID. It returns the imported images.
func (s *Store) Import(ctx context.Context, r io.Reader, baseName string) ([]*Image, error) {
	ctx = s.ctx(ctx)
	var ids []string
	err := s.withLease(ctx, func(ctx context.Context) error {
		index, err := archive.ImportIndex(ctx, s.cs, r)
		if err != nil {
			return fmt.Errorf("importing archive: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		idx, err := readIndex(ctx, s.cs, index)
		if err != nil {
			return err
		}
		// Label the index's children so that GC keeps what the image
		// records reach.
		h := images.SetChildrenLabels(s.cs, images.FilterPlatforms(images.ChildrenHandler(s.cs), s.platform))
		for _, m := range idx.Manifests {
			if _, ok := m.Annotations[images.AnnotationManifestSubject]; ok {
				continue // a referrer, not an image
			}
			if m.Platform != nil && !s.platform.Match(*m.Platform) {
				continue
			}
			if err := images.WalkNotEmpty(ctx, h, m); err != nil {
				return fmt.Errorf("importing %s: %w", m.Digest, err)
			}
			id, err := s.unpack(ctx, m)
			if err != nil {
				if errdefs.IsNotFound(err) {
					continue // no linux/amd64 image behind this entry
				}
				return fmt.Errorf("importing %s: %w", m.Digest, err)
			}
			names := []string{id.String()}
			if n := importName(m.Annotations, baseName); n != "" {
				names = append(names, n)
			}
			if err := s.record(ctx, m, names); err != nil {
				return err
			}
			ids = append(ids, id.String())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("archive holds no linux/amd64 image: %w", errdefs.ErrNotFound)
	}
	out := make([]*Image, 0, len(ids))
	for _, id := range ids {
		img, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
		s.log.Info("imported image", "id", img.ID, "tags", img.RepoTags)
	}
	return out, nil
}

func readIndex(ctx context.Context, cs content.Provider, desc ocispec.Descriptor) (ocispec.Index, error) {
	var idx ocispec.Index
	b, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		return idx, err
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("archive index: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return idx, nil
}

func importName(ann map[string]string, base string) string {
	if n := ann[images.AnnotationImageName]; n != "" {
		if named, err := reference.ParseDockerRef(n); err == nil {
			return named.String()
		}
	}
	n := ann[ocispec.AnnotationRefName]
	switch {
	case n == "":
		return ""
	case strings.ContainsAny(n, "/:@"): // a full reference, not a bare tag
		if named, err := reference.ParseDockerRef(n); err == nil {
			return named.String()
		}
	case base != "":
		if named, err := reference.ParseDockerRef(base + ":" + n); err == nil {
			return named.String()
		}
	}
	return ""
}
