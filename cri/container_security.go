package cri

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/seccomp"
	"github.com/runsc-cri/runsc-cri/cri/store"
)

// A container's security context, as containerd applies it:
//
//   - capabilities: privileged gets every capability; otherwise the OCI
//     default set, then drop_capabilities (ALL empties it), then
//     add_capabilities (ALL is every one). Names are "NET_ADMIN" or
//     "CAP_NET_ADMIN", any case. The bounding set is the result; uid 0
//     also has it effective and permitted, another uid has neither (what
//     execve leaves a non-root user without file capabilities); nothing
//     is inheritable or ambient.
//   - masked_paths and readonly_paths are applied by the sentry after the
//     mounts; a privileged container has none.
//   - a privileged container needs a privileged pod.
//   - no_new_privs is passed to the sentry.
//   - the seccomp profile is compiled here (containerSeccomp) and
//     installed by the sentry on every process of the container.

// capNames are the Linux capability names by number (CAP_LAST_CAP is 40).
var capNames = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// allCaps has every capability's bit.
var allCaps = uint64(1)<<len(capNames) - 1

// defaultCaps is the OCI (and containerd) default set.
var defaultCaps = mustCaps("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
	"SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")

func mustCaps(names ...string) uint64 {
	s, err := capSet(names)
	if err != nil {
		panic(err)
	}
	return s
}

// capSet turns capability names into a set; "ALL" is every capability.
func capSet(names []string) (uint64, error) {
	var s uint64
	for _, n := range names {
		up := strings.TrimPrefix(strings.ToUpper(n), "CAP_")
		if up == "ALL" {
			s |= allCaps
			continue
		}
		found := false
		for i, cn := range capNames {
			if cn == up {
				s |= 1 << i
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown capability %q: %w", n, ErrInvalidArgument)
		}
	}
	return s, nil
}

// containerCaps returns the capability sets of a container's processes
// running as uid.
func containerCaps(sc *runtimeapi.LinuxContainerSecurityContext, uid uint32) (*store.Caps, error) {
	set := allCaps
	if !sc.GetPrivileged() {
		drop, err := capSet(sc.GetCapabilities().GetDropCapabilities())
		if err != nil {
			return nil, err
		}
		add, err := capSet(sc.GetCapabilities().GetAddCapabilities())
		if err != nil {
			return nil, err
		}
		set = defaultCaps&^drop | add
	}
	c := &store.Caps{Bounding: set}
	if uid == 0 {
		c.Effective, c.Permitted = set, set
	}
	return c, nil
}

// checkPrivileged refuses a privileged container in a pod that is not.
func checkPrivileged(cfg *runtimeapi.ContainerConfig, pod *runtimeapi.PodSandboxConfig) error {
	if cfg.GetLinux().GetSecurityContext().GetPrivileged() && !pod.GetLinux().GetSecurityContext().GetPrivileged() {
		return fmt.Errorf("a privileged container needs a privileged pod sandbox: %w", ErrInvalidArgument)
	}
	return nil
}

// securityPaths returns the masked and read-only paths of a container.
func securityPaths(sc *runtimeapi.LinuxContainerSecurityContext) (masked, readonly []string) {
	if sc.GetPrivileged() {
		return nil, nil
	}
	return sc.GetMaskedPaths(), sc.GetReadonlyPaths()
}

// checkSeccomp checks the container's seccomp profile early (before the
// image is prepared): a Localhost profile must be a readable, valid
// profile. The filter itself is made by containerSeccomp once the
// container's capabilities are known.
func checkSeccomp(sc *runtimeapi.LinuxContainerSecurityContext) error {
	_, err := containerSeccomp(sc, 0)
	return err
}

// containerSeccomp returns the compiled seccomp filter of a container
// whose processes have the capability (bounding) set caps, or nil for
// none, as containerd chooses the profile:
//
//   - a privileged container runs unconfined (Kubernetes semantics);
//   - security_context.seccomp: RuntimeDefault is the runtime's default
//     profile (cri/seccomp), Unconfined none, Localhost the JSON file at
//     localhost_ref on the host;
//   - otherwise the deprecated seccomp_profile_path: "" and "unconfined"
//     are none, "runtime/default" and "docker/default" the default,
//     "localhost/<path>" the file at <path>.
//
// A missing, unreadable or malformed profile is InvalidArgument.
func containerSeccomp(sc *runtimeapi.LinuxContainerSecurityContext, caps uint64) ([]byte, error) {
	if sc.GetPrivileged() {
		return nil, nil
	}
	var prof *seccomp.Profile
	if sp := sc.GetSeccomp(); sp != nil {
		switch sp.GetProfileType() {
		case runtimeapi.SecurityProfile_Unconfined:
			return nil, nil
		case runtimeapi.SecurityProfile_RuntimeDefault:
			prof = seccomp.RuntimeDefault()
		case runtimeapi.SecurityProfile_Localhost:
			p, err := localhostSeccomp(sp.GetLocalhostRef())
			if err != nil {
				return nil, err
			}
			prof = p
		default:
			return nil, fmt.Errorf("unknown seccomp profile type %v: %w", sp.GetProfileType(), ErrInvalidArgument)
		}
	} else {
		switch path := sc.GetSeccompProfilePath(); {
		case path == "" || path == "unconfined":
			return nil, nil
		case path == "runtime/default" || path == "docker/default":
			prof = seccomp.RuntimeDefault()
		case strings.HasPrefix(path, "localhost/"):
			p, err := localhostSeccomp(strings.TrimPrefix(path, "localhost/"))
			if err != nil {
				return nil, err
			}
			prof = p
		default:
			return nil, fmt.Errorf("unknown seccomp profile path %q: %w", path, ErrInvalidArgument)
		}
	}
	prog, err := prof.Compile(seccomp.Options{Caps: caps})
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %v: %w", err, ErrInvalidArgument)
	}
	return prog.Bytes(), nil
}

// localhostSeccomp reads and parses the profile at the host path ref.
func localhostSeccomp(ref string) (*seccomp.Profile, error) {
	if ref == "" || !filepath.IsAbs(ref) {
		return nil, fmt.Errorf("seccomp localhost profile %q: not an absolute path: %w", ref, ErrInvalidArgument)
	}
	data, err := os.ReadFile(ref)
	if err != nil {
		return nil, fmt.Errorf("seccomp localhost profile: %v: %w", err, ErrInvalidArgument)
	}
	p, err := seccomp.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("seccomp localhost profile %s: %v: %w", ref, err, ErrInvalidArgument)
	}
	return p, nil
}
