package main

import (
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/runsc-cri/runsc-cri/sentry/syscalls"
)

// syscallsMain prints the syscall support table.
func syscallsMain(args []string) int {
	fs := flag.NewFlagSet("syscalls", flag.ContinueOnError)
	onlyMissing := fs.Bool("missing", false, "print only the system calls that return ENOSYS")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "NR\tNAME\tSUPPORT\tNOTE")
	counts := map[syscalls.Support]int{}
	for _, r := range syscalls.Rows() {
		counts[r.Support]++
		if *onlyMissing && r.Support != syscalls.Unimplemented {
			continue
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", r.Number, r.Name, r.Support, r.Note)
	}
	w.Flush()
	fmt.Printf("\n%d supported, %d partial, %d ENOSYS\n", counts[syscalls.Full], counts[syscalls.Partial], counts[syscalls.Unimplemented])
	return 0
}
