package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/runsc-cri/runsc-cri/cri/config"
	"github.com/runsc-cri/runsc-cri/cri/images"
)

const imagesUsage = `Usage: runsc-cri images [--config FILE] [--root DIR] [--registry-config-dir DIR] COMMAND

Works on the daemon's image store directly (not through the CRI socket),
for air-gapped nodes. The store can be open in one process at a time: stop
the daemon first.

Commands:
  list                         list images
  pull [--user U:P] REF        pull an image (linux/amd64)
  import [--name REPO] FILE    load an OCI layout or docker-save tar ('-' for stdin);
                               --name gives the repository for bare-tag OCI names
  rm REF...                    remove images (by ID, tag or digest) and collect their content
`

// imagesMain is `runsc-cri images`.
func imagesMain(args []string) int {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, imagesUsage) }
	load := config.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri images: %v\n", err)
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	level, _ := config.ParseLevel(cfg.LogLevel)
	if level < slog.LevelWarn {
		level = slog.LevelWarn // the tool prints its own results
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	st, err := images.Open(ctx, images.Options{
		Root:              filepath.Join(cfg.Root, "images"),
		RegistryConfigDir: cfg.RegistryConfigDir,
		Log:               log,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri images: %v\n", err)
		return 1
	}
	defer st.Close()
	if err := imagesRun(ctx, st, fs.Arg(0), fs.Args()[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "runsc-cri images %s: %v\n", fs.Arg(0), err)
		return 1
	}
	return 0
}

func imagesRun(ctx context.Context, st *images.Store, cmd string, args []string, out io.Writer) error {
	switch cmd {
	case "list", "ls":
		all, err := st.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "IMAGE ID\tSIZE\tNAMES")
		for _, img := range all {
			names := append(append([]string{}, img.RepoTags...), img.RepoDigests...)
			fmt.Fprintf(tw, "%s\t%d\t%s\n", shortID(img.ID), img.Size, strings.Join(names, " "))
		}
		return tw.Flush()
	case "pull":
		fs := flag.NewFlagSet("pull", flag.ContinueOnError)
		user := fs.String("user", "", "registry credentials `user:password`")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("want one image reference")
		}
		var auth *images.Auth
		if *user != "" {
			u, p, _ := strings.Cut(*user, ":")
			auth = &images.Auth{Username: u, Password: p}
		}
		img, err := st.Pull(ctx, fs.Arg(0), auth)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, img.ID)
	case "import":
		fs := flag.NewFlagSet("import", flag.ContinueOnError)
		name := fs.String("name", "", "repository `name` for images named by a bare tag")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("want one archive file")
		}
		var r io.Reader = os.Stdin
		if p := fs.Arg(0); p != "-" {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		imgs, err := st.Import(ctx, r, *name)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			fmt.Fprintf(out, "%s %s\n", img.ID, strings.Join(img.RepoTags, " "))
		}
	case "rm", "remove":
		if len(args) == 0 {
			return fmt.Errorf("want image references")
		}
		for _, ref := range args {
			if err := st.Remove(ctx, ref); err != nil {
				return err
			}
			fmt.Fprintf(out, "removed %s\n", ref)
		}
	default:
		return fmt.Errorf("unknown command (want list, pull, import or rm)")
	}
	return nil
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}
