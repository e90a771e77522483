package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CheckpointPod implements CRI CheckpointPod: it checkpoints a pod.
// Not built yet: it answers Unimplemented.
func (s *Server) CheckpointPod(ctx context.Context, r *runtimeapi.CheckpointPodRequest) (*runtimeapi.CheckpointPodResponse, error) {
	return s.checkpointPod(ctx, r)
}

func (s *Server) checkpointPod(context.Context, *runtimeapi.CheckpointPodRequest) (*runtimeapi.CheckpointPodResponse, error) {
	return nil, fmt.Errorf("CheckpointPod: checkpointing is not supported: %w", ErrUnimplemented)
}
