package images

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/containerd/containerd/v2/pkg/rootfs"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Auth is registry credentials, as in CRI's AuthConfig.
//
// Precedence: RegistryToken (sent as a bearer token, no token exchange);
// IdentityToken (an OAuth refresh token for the registry's token
// service); Username/Password; Auth (base64 "user:password"). When
// ServerAddress is set, the credentials are sent only to that host;
// otherwise to every host serving the pull (the registry and its mirrors).
type Auth struct {
	Username, Password string
	Auth               string
	ServerAddress      string
	IdentityToken      string
	RegistryToken      string
}

// ParseRef normalizes an image reference (busybox -> docker.io/library/
// busybox:latest). A malformed reference is an errdefs.ErrInvalidArgument.
func ParseRef(ref string) (reference.Named, error) {
	if ref == "" {
		return nil, fmt.Errorf("empty image reference: %w", errdefs.ErrInvalidArgument)
	}
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %v: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	return named, nil
}

// Pull fetches ref's linux/amd64 image, unpacks it and records its names.
// An unknown image or tag is an errdefs.ErrNotFound.
func (s *Store) Pull(ctx context.Context, ref string, auth *Auth) (*Image, error) {
	named, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	ctx = s.ctx(ctx)
	var id digest.Digest
	err = s.withLease(ctx, func(ctx context.Context) error {
		resolver := docker.NewResolver(docker.ResolverOptions{Hosts: s.hosts(auth)})
		name, target, err := resolver.Resolve(ctx, named.String())
		if err != nil {
			return fmt.Errorf("pulling %s: resolve: %w", ref, err)
		}
		fetcher, err := resolver.Fetcher(ctx, name)
		if err != nil {
			return fmt.Errorf("pulling %s: %w", ref, err)
		}
		children := images.ChildrenHandler(s.cs)
		children = images.SetChildrenLabels(s.cs, children)
		children = images.FilterPlatforms(children, s.platform)
		children = images.LimitManifests(children, s.platform, 1)
		h := images.Handlers(remotes.FetchHandler(s.cs, fetcher), children)
		if err := images.Dispatch(ctx, h, nil, target); err != nil {
			return fmt.Errorf("pulling %s: fetch: %w", ref, err)
		}
		id, err = s.unpack(ctx, target)
		if err != nil {
			return fmt.Errorf("pulling %s: %w", ref, err)
		}
		names := []string{named.String(), id.String()}
		if _, tagged := named.(reference.Tagged); tagged {
			if d, err := reference.WithDigest(reference.TrimNamed(named), target.Digest); err == nil {
				names = append(names, d.String())
			}
		}
		return s.record(ctx, target, names)
	})
	if err != nil {
		// Drop what the failed pull fetched or unpacked (its lease is
		// gone; content shared with other images stays).
		if gcErr := s.GC(context.WithoutCancel(ctx)); gcErr != nil {
			s.log.Warn("gc after failed pull", "err", gcErr)
		}
		return nil, err
	}
	s.log.Info("pulled image", "ref", ref, "id", id)
	return s.byID(ctx, id)
}

// record points each name at target, creating or moving the record.
func (s *Store) record(ctx context.Context, target ocispec.Descriptor, names []string) error {
	for _, n := range names {
		img := images.Image{Name: n, Target: target}
		if _, err := s.is.Update(ctx, img, "target"); err != nil {
			if !errdefs.IsNotFound(err) {
				return fmt.Errorf("recording image %s: %w", n, err)
			}
			if _, err := s.is.Create(ctx, img); err != nil && !errdefs.IsAlreadyExists(err) {
				return fmt.Errorf("recording image %s: %w", n, err)
			}
		}
	}
	return nil
}

// unpack applies target's layers (linux/amd64) into the snapshotter and
// ties the top snapshot to the config blob for GC. It returns the image
// ID (config digest).
func (s *Store) unpack(ctx context.Context, target ocispec.Descriptor) (digest.Digest, error) {
	manifest, err := images.Manifest(ctx, s.cs, target, s.platform)
	if err != nil {
		return "", fmt.Errorf("no %s image: %w", "linux/amd64", err)
	}
	diffIDs, err := images.RootFS(ctx, s.cs, manifest.Config)
	if err != nil {
		return "", fmt.Errorf("reading image config: %w", err)
	}
	var blobs []ocispec.Descriptor
	for _, l := range manifest.Layers {
		if images.IsLayerType(l.MediaType) {
			blobs = append(blobs, l)
		}
	}
	if len(blobs) != len(diffIDs) {
		return "", fmt.Errorf("image has %d layers but its config names %d: %w", len(blobs), len(diffIDs), errdefs.ErrInvalidArgument)
	}
	layers := make([]rootfs.Layer, len(blobs))
	for i := range blobs {
		layers[i] = rootfs.Layer{Blob: blobs[i], Diff: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffIDs[i]}}
	}
	chain, err := rootfs.ApplyLayers(ctx, layers, s.sn, s.applier)
	if err != nil {
		return "", fmt.Errorf("unpacking layers: %w", err)
	}
	for _, l := range layers {
		info := content.Info{Digest: l.Blob.Digest, Labels: map[string]string{labels.LabelUncompressed: l.Diff.Digest.String()}}
		if _, err := s.cs.Update(ctx, info, "labels."+labels.LabelUncompressed); err != nil {
			return "", err
		}
	}
	if len(layers) > 0 { // an image without layers has no snapshot
		key := "containerd.io/gc.ref.snapshot." + s.snName
		info := content.Info{Digest: manifest.Config.Digest, Labels: map[string]string{key: chain.String()}}
		if _, err := s.cs.Update(ctx, info, "labels."+key); err != nil {
			return "", err
		}
	}
	s.mu.Lock()
	s.configs[target.Digest] = manifest.Config
	s.mu.Unlock()
	return manifest.Config.Digest, nil
}

// hosts configures registry hosts from the certs.d directory, with auth.
func (s *Store) hosts(auth *Auth) docker.RegistryHosts {
	opts := config.HostOptions{}
	if s.regDir != "" {
		opts.HostDir = config.HostDirFromRoot(s.regDir)
	}
	if auth != nil && auth.RegistryToken == "" {
		opts.Credentials = func(host string) (string, string, error) { return auth.credentials(host) }
	}
	hosts := config.ConfigureHosts(context.Background(), opts)
	if auth == nil || auth.RegistryToken == "" {
		return hosts
	}
	return func(host string) ([]docker.RegistryHost, error) {
		rh, err := hosts(host)
		for i := range rh {
			if auth.forHost(rh[i].Host) {
				rh[i].Authorizer = bearer(auth.RegistryToken)
			}
		}
		return rh, err
	}
}

// forHost reports whether the credentials may be sent to host.
func (a *Auth) forHost(host string) bool {
	if a.ServerAddress == "" {
		return true
	}
	server := a.ServerAddress
	if u, err := url.Parse(server); err == nil && u.Host != "" {
		server = u.Host
	}
	server = strings.TrimSuffix(server, "/")
	if server == "docker.io" || server == "index.docker.io" {
		server = "registry-1.docker.io"
	}
	return server == host
}

func (a *Auth) credentials(host string) (string, string, error) {
	if !a.forHost(host) {
		return "", "", nil
	}
	switch {
	case a.IdentityToken != "":
		return "", a.IdentityToken, nil
	case a.Username != "":
		return a.Username, a.Password, nil
	case a.Auth != "":
		b, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return "", "", fmt.Errorf("auth: not base64: %w", errdefs.ErrInvalidArgument)
		}
		user, pass, ok := strings.Cut(string(b), ":")
		if !ok {
			return "", "", fmt.Errorf("auth: want base64 of user:password: %w", errdefs.ErrInvalidArgument)
		}
		return user, pass, nil
	}
	return "", "", nil
}

// bearer is an Authorizer that sends a fixed registry token.
type bearer string

func (b bearer) Authorize(_ context.Context, r *http.Request) error {
	r.Header.Set("Authorization", "Bearer "+string(b))
	return nil
}

func (b bearer) AddResponses(context.Context, []*http.Response) error {
	return errdefs.ErrNotImplemented
}
