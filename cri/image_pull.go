package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/images"
)

// PullImage implements CRI PullImage: fetch and unpack an image (by tag
// or digest; the linux/amd64 image of an index) with the given
// credentials, through the mirrors configured in the registry config dir.
// The response names the image by ID.
func (s *Server) PullImage(ctx context.Context, r *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	return s.pullImage(ctx, r)
}

func (s *Server) pullImage(ctx context.Context, r *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref := r.GetImage().GetImage()
	if ref == "" {
		return nil, fmt.Errorf("PullImage: no image given: %w", ErrInvalidArgument)
	}
	var auth *images.Auth
	if a := r.GetAuth(); a != nil {
		auth = &images.Auth{
			Username:      a.Username,
			Password:      a.Password,
			Auth:          a.Auth,
			ServerAddress: a.ServerAddress,
			IdentityToken: a.IdentityToken,
			RegistryToken: a.RegistryToken,
		}
	}
	img, err := s.images.Pull(ctx, ref, auth)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PullImageResponse{ImageRef: img.ID}, nil
}
