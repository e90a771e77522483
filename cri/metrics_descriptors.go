package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListMetricDescriptors implements CRI ListMetricDescriptors: it describes the pod metrics.
// Not built yet: it answers Unimplemented.
func (s *Server) ListMetricDescriptors(ctx context.Context, r *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	return s.listMetricDescriptors(ctx, r)
}

func (s *Server) listMetricDescriptors(context.Context, *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	return nil, fmt.Errorf("ListMetricDescriptors: pod metrics are not built yet: %w", ErrUnimplemented)
}
