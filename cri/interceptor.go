package cri

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// interceptor is the one place where worker errors become gRPC status
// codes, and where every call is logged: failures that are the runtime's
// fault (Unknown, Internal) at error level, other failures at info,
// successes at debug.
type interceptor struct {
	log *slog.Logger
}

func (ic *interceptor) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	return resp, ic.finish(ctx, info.FullMethod, start, err)
}

func (ic *interceptor) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	err := h(srv, ss)
	return ic.finish(ss.Context(), info.FullMethod, start, err)
}

func (ic *interceptor) finish(ctx context.Context, method string, start time.Time, err error) error {
	c := code(err)
	level := slog.LevelDebug
	switch c {
	case codes.OK:
	case codes.Unknown, codes.Internal, codes.DataLoss:
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	if ic.log.Enabled(ctx, level) {
		attrs := []any{"method", method, "code", c.String(), "took", time.Since(start)}
		if err != nil {
			attrs = append(attrs, "err", err.Error())
		}
		ic.log.Log(ctx, level, "CRI call", attrs...)
	}
	return toStatus(err)
}
