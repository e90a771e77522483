package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/runsc-cri/runsc-cri/cri"
	"github.com/runsc-cri/runsc-cri/cri/config"
	"github.com/runsc-cri/runsc-cri/platform"
)

// serveMain runs the CRI daemon until SIGTERM or SIGINT.
func serveMain(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	load := config.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "runsc-cri serve: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri serve: %v\n", err)
		return 2
	}
	level, _ := config.ParseLevel(cfg.LogLevel)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s, err := cri.New(ctx, cfg, cri.WithLogger(log), cri.WithVersion(version), cri.WithPlatforms(platform.Names()))
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := s.Serve(ctx, nil); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
}
