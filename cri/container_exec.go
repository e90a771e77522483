package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Exec implements CRI Exec: it checks that the container runs and returns
// the URL of the streaming server where the client runs the command with
// its streams (k8s.io/cri-streaming; SPDY or websocket). At least one of
// stdin, stdout and stderr must be asked for; tty and stderr exclude each
// other.
func (s *Server) Exec(ctx context.Context, r *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	return s.execStream(ctx, r)
}

func (s *Server) execStream(_ context.Context, r *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if len(r.GetCmd()) == 0 {
		return nil, fmt.Errorf("Exec: cmd is empty: %w", ErrInvalidArgument)
	}
	if _, _, err := s.runningContainer("Exec", r.GetContainerId()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	ss := s.stream
	s.mu.Unlock()
	if ss == nil {
		return nil, fmt.Errorf("Exec: the streaming server is not running: %w", ErrFailedPrecondition)
	}
	resp, err := ss.GetExec(r)
	if err != nil {
		return nil, fmt.Errorf("Exec: %v: %w", err, ErrInvalidArgument)
	}
	return resp, nil
}
