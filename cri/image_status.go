package cri

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ImageStatus implements CRI ImageStatus. As the spec asks, an image that
// is not present yields a response with no image, not an error. With
// verbose, Info["info"] is JSON holding the image config ("imageSpec"),
// the chain ID of its snapshot and the snapshotter.
func (s *Server) ImageStatus(ctx context.Context, r *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	return s.imageStatus(ctx, r)
}

func (s *Server) imageStatus(ctx context.Context, r *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	ref := r.GetImage().GetImage()
	if ref == "" {
		return nil, fmt.Errorf("ImageStatus: no image given: %w", ErrInvalidArgument)
	}
	img, err := s.images.Get(ctx, ref)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ImageStatusResponse{Image: toCRIImage(img)}
	if r.GetVerbose() {
		info := struct {
			ImageSpec   json.RawMessage `json:"imageSpec"`
			ChainID     string          `json:"chainID"`
			Snapshotter string          `json:"snapshotter"`
			Target      any             `json:"target"`
		}{img.ConfigJSON, img.ChainID.String(), s.images.Snapshotter(), img.Target}
		b, err := json.Marshal(info)
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}
