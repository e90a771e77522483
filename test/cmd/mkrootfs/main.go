// Command mkrootfs assembles the busybox rootfs (see package rootfs):
//
//	go run ./test/cmd/mkrootfs [-busybox /bin/busybox] DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/runsc-cri/runsc-cri/test/rootfs"
)

func main() {
	busybox := flag.String("busybox", "", "static busybox binary (default: Debian's busybox-static)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: mkrootfs [-busybox PATH] DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := rootfs.Build(flag.Arg(0), *busybox); err != nil {
		fmt.Fprintf(os.Stderr, "mkrootfs: %v\n", err)
		os.Exit(1)
	}
}
