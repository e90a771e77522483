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
//
// With --pod it is a pod sentry instead: --spec is a JSON boot.PodSpec, and
// the sentry starts no process but serves the control protocol
// (sentry/control) on --control PATH until a Shutdown call; --ready-fd N
// names an inherited fd that gets "ok\n" (or "error: ...\n") once the
// socket accepts calls.
func bootMain(args []string) int {
	fs := flag.NewFlagSet("boot", flag.ContinueOnError)
	specPath := fs.String("spec", "", "JSON file with the sandbox spec")
	debug := fs.Bool("debug", false, "log every system call")
	pod := fs.Bool("pod", false, "run a pod sentry serving the control protocol")
	controlPath := fs.String("control", "", "with --pod: the control socket path")
	readyFD := fs.Int("ready-fd", -1, "with --pod: an fd to write \"ok\" to once serving")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *pod {
		return podMain(*specPath, *controlPath, *readyFD, *debug)
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

// podMain is `runsc-cri boot --pod`.
func podMain(specPath, controlPath string, readyFD int, debug bool) int {
	if specPath == "" || controlPath == "" {
		fmt.Fprintln(os.Stderr, "usage: runsc-cri boot --pod --control PATH --spec FILE [--ready-fd N] [--debug]")
		return 2
	}
	data, err := os.ReadFile(specPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri boot: %v\n", err)
		return 2
	}
	var spec boot.PodSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri boot: %s: %v\n", specPath, err)
		return 2
	}
	spec.Debug = spec.Debug || debug
	level := slog.LevelWarn
	if spec.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	boot.Version = version
	return boot.RunPod(spec, controlPath, readyFD, log)
}
