// Package fuzz holds the sandbox's robustness tests: bad input from an
// application must get an error and never crash, hang or leak the sentry.
//
//   - TestSyscallFuzz compiles testdata/sysfuzz.c (a static C program; the
//     test skips without gcc) into a fresh busybox rootfs and runs it under
//     `runsc-cri do`. Its parent forks children that each make thousands of
//     random system calls with hostile arguments (see the C file for the
//     argument pool and the deny list). The test passes when the sandbox
//     exits 0, stderr has no panic, no child of the fuzzer hung beyond
//     being SIGKILLed, the sentry holds no more host fds and stub processes
//     after the run than before it, no process of the sandbox outlives it
//     (the test process is a child subreaper, so orphans come back to it),
//     and nothing was written next to the rootfs copy.
//   - TestRegressions runs each testdata/regress/NAME.c in the sandbox and
//     compares its stdout with NAME.want (the same program's output on
//     Linux). Each is a sentry bug the fuzzer found, reduced.
//   - The sentry's own parsers of hostile structs have Go fuzz targets next
//     to them (go test -fuzz, e.g. sentry/syscalls FuzzDecodeClone3).
//
// Knobs (environment):
//
//	RUNSC_CRI                 runsc-cri binary to use (default: go build)
//	RUNSC_FUZZ_SEEDS          comma-separated seed bases, or "random:N"
//	                          (default: a fixed list, so CI is reproducible)
//	RUNSC_FUZZ_CHILDREN       children per seed base (default 40)
//	RUNSC_FUZZ_CALLS          system calls per child (default 2000)
//	RUNSC_FUZZ_JOBS           children at a time (default 2)
//	RUNSC_FUZZ_RUN_TIMEOUT    time limit of one sandbox run (default 3m)
//
// Child k of seed base S uses seed S+k; a failure prints S and the command
// that reproduces it. A long run:
//
//	RUNSC_FUZZ_SEEDS=random:20 RUNSC_FUZZ_CHILDREN=300 RUNSC_FUZZ_CALLS=3000 \
//	  go test ./test/fuzz -run TestSyscallFuzz -count=1 -v -timeout 2h
//
// The tests need root (ptrace, the gofer's mount namespace) and skip
// without it.
package fuzz
