package boot

import (
	"fmt"

	"github.com/runsc-cri/runsc-cri/seccomp"
)

// Host seccomp filters.
//
// Once start-up is done (platform, memory file, gofer connections,
// control socket) and before any application code runs, the sentry
// confines itself with seccomp.SentryRules (InstallHostSeccomp). The
// mode comes from the environment variable SeccompEnv
// (RUNSC_CRI_HOST_SECCOMP), which every process runsc-cri starts
// inherits:
//
//	unset or "on"  calls outside the allowlist kill the process
//	"log"          they are allowed and logged by the kernel: find them
//	               with `dmesg | grep 'type=1326'` (syscall=N, pid, ip)
//	"off"          no filter (debugging only)

// SeccompEnv names the variable that selects the host filter mode.
const SeccompEnv = seccomp.ModeEnv

// InstallHostSeccomp installs the sentry's host filter in the mode
// SeccompEnv selects. pod says whether this is a pod sentry (which may
// still open host pseudo-terminals for tty containers).
func InstallHostSeccomp(pod bool) error {
	rules := seccomp.SentryRules()
	if pod {
		rules = seccomp.PodSentryRules()
	}
	if err := seccomp.InstallFromEnv(rules); err != nil {
		return fmt.Errorf("host seccomp filter: %w", err)
	}
	return nil
}

// beforeInit runs in Start just before the first application process
// starts; Run (the `do` and `boot --spec` commands) makes it install the
// host filter. Tests that call Start in-process leave it a no-op.
var beforeInit = func() error { return nil }
