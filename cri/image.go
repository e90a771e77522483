package cri

import (
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/images"
)

// toCRIImage converts a store image for the ImageService.
func toCRIImage(img *images.Image) *runtimeapi.Image {
	out := &runtimeapi.Image{
		Id:          img.ID,
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
		Size:        img.Size,
		Spec:        &runtimeapi.ImageSpec{Image: img.ID},
	}
	// The image's USER is "user[:group]"; the CRI wants the user as a uid
	// when numeric, else as a name.
	user, _, _ := strings.Cut(img.User(), ":")
	if uid, err := strconv.ParseInt(user, 10, 64); err == nil {
		out.Uid = &runtimeapi.Int64Value{Value: uid}
	} else if user != "" {
		out.Username = user
	}
	return out
}
