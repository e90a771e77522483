package kernel

import (
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/loader"
)

// SetIDFile is implemented by executables (the ExecOpener's files) whose
// set-user-ID or set-group-ID bit is to be honoured: the opener reports
// the bits only for a regular file on a mount without nosuid (set-group-ID
// only with the group execute bit, as Linux).
type SetIDFile interface {
	SetID() (uid auth.KUID, setuid bool, gid auth.KGID, setgid bool)
}

// execCredentials returns the credentials of a task with c after it
// execs f (auth.Credentials.ForExec).
func execCredentials(c *auth.Credentials, f loader.File) *auth.Credentials {
	var (
		uid            auth.KUID
		gid            auth.KGID
		setuid, setgid bool
	)
	if s, ok := f.(SetIDFile); ok {
		uid, setuid, gid, setgid = s.SetID()
	}
	return c.ForExec(uid, setuid, gid, setgid)
}
