package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/runsc-cri/runsc-cri/sentry/boot"
)

// bootMain implements `runsc-cri boot --spec FILE`: run a sandbox described
// by a JSON boot.Spec, with the fds it names inherited from the caller.
func bootMain(args []string) int {
	fs := flag.NewFlagSet("boot", flag.ContinueOnError)
	specPath := fs.String("spec", "", "JSON file with the sandbox spec")
	debug := fs.Bool("debug", false, "log every system call")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	data, err := os.ReadFile(*specPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri boot: %v\n", err)
		return 2
	}
	var spec boot.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri boot: %s: %v\n", *specPath, err)
		return 2
	}
	spec.Debug = spec.Debug || *debug
	level := slog.LevelWarn
	if spec.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	status, err := boot.Run(spec, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri boot: %v\n", err)
		return 127
	}
	return status
}
