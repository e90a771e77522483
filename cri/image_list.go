package cri

import (
	"context"

	"github.com/containerd/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListImages implements CRI ListImages. A filter image (a name, a
// repo@digest or an ID) narrows the list to that image.
func (s *Server) ListImages(ctx context.Context, r *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	return s.listImages(ctx, r)
}

func (s *Server) listImages(ctx context.Context, r *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	resp := &runtimeapi.ListImagesResponse{}
	if ref := r.GetFilter().GetImage().GetImage(); ref != "" {
		img, err := s.images.Get(ctx, ref)
		if errdefs.IsNotFound(err) {
			return resp, nil
		}
		if err != nil {
			return nil, err
		}
		resp.Images = append(resp.Images, toCRIImage(img))
		return resp, nil
	}
	all, err := s.images.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, img := range all {
		resp.Images = append(resp.Images, toCRIImage(img))
	}
	return resp, nil
}
