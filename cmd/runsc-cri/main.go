// Command runsc-cri is the whole runtime in one binary: the CRI daemon
// (serve), the sandbox pieces it starts (boot: the sentry; gofer: the file
// server), and tools (do, images, syscalls, version).
package main

import (
	"fmt"
	"os"

	"github.com/runsc-cri/runsc-cri/gofer"

	// Platforms register themselves.
	_ "github.com/runsc-cri/runsc-cri/platform/ptrace"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usage = `runsc-cri: a Kubernetes container runtime where every pod runs in its own user-space kernel.

Usage:
  runsc-cri do [flags] -- COMMAND [ARG...]   run one command in a fresh sandbox
  runsc-cri syscalls [--all]                 print the system-call support table
  runsc-cri version                          print the version
  runsc-cri boot --spec FILE                 run a one-process sandbox's sentry from a JSON spec
  runsc-cri boot --pod --control PATH --spec FILE [--ready-fd N]
                                             run a pod's sentry (started by the daemon)
  runsc-cri gofer --root DIR --sock-fd N     serve a sandbox's files (started by do/the daemon)
  runsc-cri serve [--config FILE] [--socket PATH] [--root DIR] [--registry-config-dir DIR]
                  [--platform ptrace|kvm] [--log-level LEVEL]
                                             the CRI daemon
  runsc-cri images [--root DIR] list|pull REF|import [--name REPO] FILE|rm REF...
                                             manage the image store directly (daemon stopped)

Run 'runsc-cri do --help' for the do flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var rc int
	switch cmd {
	case "do":
		rc = doMain(args)
	case "boot":
		rc = bootMain(args)
	case "gofer":
		rc = gofer.Main(args)
	case "syscalls":
		rc = syscallsMain(args)
	case "version", "--version":
		fmt.Printf("runsc-cri version %s\n", version)
	case "serve":
		rc = serveMain(args)
	case "images":
		rc = imagesMain(args)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "runsc-cri: unknown command %q\n\n%s", cmd, usage)
		rc = 2
	}
	os.Exit(rc)
}
