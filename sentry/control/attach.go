package control

// Attach.
//
// A container created with Process.OpenStdin has a pipe as its init's
// stdin whose write end the sentry keeps; one created with
// Process.Terminal and no Stdin fd runs on a pseudo-terminal that the
// sentry opens and whose master it keeps. Both stay in the sentry, so a
// restarted daemon can attach again. The sentry reads the container's
// output, writes it to the CRI log (a terminal's output as "stdout"), and
// only then copies it to the attached clients.
//
// An Attach call passes pipes: the sentry copies what the daemon writes
// into the Stdin pipe to the container's input, and the container's output
// into the Stdout and Stderr pipes. The call returns at once; the
// attachment lasts until either side closes its end of Hangup (a
// SOCK_STREAM socket pair): the daemon closes its end to detach, the sentry
// closes its end once the container's output has ended (every process of
// the container gone) and everything before it has been written to the
// output pipes, which it then closes.
//
// A client that does not read its output never slows the application or
// the log: the sentry buffers up to AttachBacklog bytes per output pipe and
// drops what does not fit (the log still has it).
//
// StdinOnce: when the first attachment that carried a Stdin pipe sees EOF
// on it or detaches, the sentry closes the container's stdin (the init
// reads EOF); later attachments get no stdin (AttachResult.Stdin false).
// On a terminal "closing stdin" is typing the terminal's EOF character
// (VEOF, ^D) once and accepting no more input: the master stays open, as
// the output still flows through it.

// MethodAttach attaches to a running container's init.
// Request: AttachRequest (fds attached); Response.Result: AttachResult.
// Errors: ENOENT for an unknown container, ESRCH for one that has not
// started or has exited, EBADF for a missing Hangup fd.
const MethodAttach = "Attach"

// AttachBacklog is the most output the sentry holds for one attached pipe
// that is not being read; beyond it output is dropped for that pipe.
const AttachBacklog = 1 << 20

// AttachRequest attaches to container ID. The fd fields are indexes into
// the attached fds, -1 for none.
type AttachRequest struct {
	ID string `json:"id"`
	// Stdin is the read end of a pipe whose contents go to the
	// container's stdin (or terminal). Ignored (closed) when the
	// container has no stdin.
	Stdin int `json:"stdin"`
	// Stdout and Stderr are write ends of pipes for the container's
	// output. With a terminal everything goes to Stdout.
	Stdout int `json:"stdout"`
	Stderr int `json:"stderr"`
	// Hangup is one end of a SOCK_STREAM socket pair (required): closing
	// the other end detaches; the sentry closes this one when the
	// container's output has ended.
	Hangup int `json:"hangup"`
}

// AttachResult says what the attachment got.
type AttachResult struct {
	// Stdin: the Stdin pipe is connected to the container's input.
	Stdin bool `json:"stdin,omitempty"`
	// StdinOnce: the container's stdin closes when this attachment's
	// stdin ends (the first attachment with stdin of a StdinOnce
	// container).
	StdinOnce bool `json:"stdinOnce,omitempty"`
	// Terminal: the container runs on a terminal (output is on Stdout
	// only; Resize with PID 0 resizes it).
	Terminal bool `json:"terminal,omitempty"`
}
