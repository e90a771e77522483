package cri

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestSeccompProfiles: a Localhost profile (critest's) blocks sethostname
// and chmod with EPERM for the init and exec'd processes even with
// CAP_SYS_ADMIN; RuntimeDefault shows Seccomp: 2 and leaves ordinary
// work (pipes, forks, execs) alone; Unconfined, no profile and a
// privileged container show Seccomp: 0; missing and malformed profiles
// are InvalidArgument.
func TestSeccompProfiles(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs)
	d.pull(t, e.image)
	ctx := ctxT(t)

	dir := t.TempDir()
	profile := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	block := profile("block.json", `{
     "defaultAction": "SCMP_ACT_ALLOW",
     "syscalls": [
         {"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"},
         {"names": ["chmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO"}
     ]
}`)
	malformed := profile("bad.json", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [`)

	pcfg := podConfigFor("seccomp", t.TempDir())
	pcfg.Linux.SecurityContext.Privileged = true
	podID := d.runPod(t, pcfg)
	ctr := func(name string, sc *runtimeapi.LinuxContainerSecurityContext) string {
		t.Helper()
		sc.RunAsUser = &runtimeapi.Int64Value{Value: 0}
		c := ctrConfig(name, e.image, "sleep 1000")
		c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: sc}
		return d.createStart(t, podID, pcfg, c)
	}
	out := func(id string, cmd ...string) (int32, string) {
		r := d.exec(t, id, 10, cmd...)
		return r.ExitCode, string(r.Stdout) + string(r.Stderr)
	}
	seccompLine := regexp.MustCompile(`(?m)^Seccomp:\s+(\d)$`)
	mode := func(id, pid string) string {
		t.Helper()
		_, s := out(id, "cat", "/proc/"+pid+"/status")
		m := seccompLine.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("no Seccomp line in /proc/%s/status: %s", pid, s)
		}
		return m[1]
	}
	sysAdmin := &runtimeapi.Capability{AddCapabilities: []string{"SYS_ADMIN"}}

	// Localhost: blocked with SYS_ADMIN, for exec'd processes and init.
	loc := ctr("localhost", &runtimeapi.LinuxContainerSecurityContext{Capabilities: sysAdmin,
		Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: block}})
	if code, s := out(loc, "hostname", "blocked"); code == 0 || !strings.Contains(s, "Operation not permitted") {
		t.Errorf("sethostname under the Localhost profile: %d %q", code, s)
	}
	if code, s := out(loc, "busybox", "chmod", "400", "/"); code == 0 || !strings.Contains(s, "Operation not permitted") {
		t.Errorf("chmod under the Localhost profile: %d %q", code, s)
	}
	if code, s := out(loc, "sh", "-c", "echo ok | cat; ls / >/dev/null && echo listed"); code != 0 || s != "ok\nlisted\n" {
		t.Errorf("ordinary commands under the Localhost profile: %d %q", code, s)
	}
	if m := mode(loc, "self"); m != "2" {
		t.Errorf("exec'd process: Seccomp %s, want 2", m)
	}
	if m := mode(loc, "1"); m != "2" {
		t.Errorf("init: Seccomp %s, want 2", m)
	}
	// The deprecated path form.
	old := ctr("oldpath", &runtimeapi.LinuxContainerSecurityContext{Capabilities: sysAdmin, SeccompProfilePath: "localhost/" + block})
	if code, _ := out(old, "hostname", "blocked"); code == 0 {
		t.Error("sethostname under localhost/<path>: allowed")
	}

	// RuntimeDefault: filtered, ordinary work still runs; sethostname is
	// allowed with SYS_ADMIN as the default profile says.
	def := ctr("default", &runtimeapi.LinuxContainerSecurityContext{Capabilities: sysAdmin, Seccomp: &runtimeapi.SecurityProfile{}})
	if m := mode(def, "self"); m != "2" {
		t.Errorf("RuntimeDefault: Seccomp %s, want 2", m)
	}
	if code, s := out(def, "sh", "-c", "echo ok | cat; id -u; busybox chmod 755 /work && echo chmod"); code != 0 || s != "ok\n0\nchmod\n" {
		t.Errorf("ordinary commands under RuntimeDefault: %d %q", code, s)
	}
	if code, s := out(def, "hostname", "allowed"); code != 0 {
		t.Errorf("sethostname with SYS_ADMIN under RuntimeDefault: %d %q", code, s)
	}
	plainDef := ctr("default-nocap", &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "runtime/default"})
	if code, s := out(plainDef, "busybox", "mount", "-t", "tmpfs", "none", "/tmp"); code == 0 {
		t.Errorf("mount under RuntimeDefault without SYS_ADMIN: %d %q", code, s)
	}

	// Unconfined, none, privileged.
	unc := ctr("unconfined", &runtimeapi.LinuxContainerSecurityContext{Capabilities: sysAdmin,
		Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}})
	if m := mode(unc, "self"); m != "0" {
		t.Errorf("Unconfined: Seccomp %s, want 0", m)
	}
	if code, s := out(unc, "hostname", "unconfined"); code != 0 {
		t.Errorf("sethostname with SYS_ADMIN, unconfined: %d %q", code, s)
	}
	none := ctr("none", &runtimeapi.LinuxContainerSecurityContext{})
	if m := mode(none, "self"); m != "0" {
		t.Errorf("no profile: Seccomp %s, want 0", m)
	}
	priv := ctr("priv", &runtimeapi.LinuxContainerSecurityContext{Privileged: true,
		Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: block}})
	if m := mode(priv, "self"); m != "0" {
		t.Errorf("privileged with a profile: Seccomp %s, want 0", m)
	}
	if code, s := out(priv, "hostname", "privileged"); code != 0 {
		t.Errorf("sethostname, privileged with a blocking profile: %d %q", code, s)
	}

	// Refused profiles.
	for name, sc := range map[string]*runtimeapi.LinuxContainerSecurityContext{
		"missing":   {Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: filepath.Join(dir, "nope.json")}},
		"empty-ref": {Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost}},
		"relative":  {Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "block.json"}},
		"malformed": {Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: malformed}},
		"bad-path":  {SeccompProfilePath: "somewhere/else"},
	} {
		c := ctrConfig("bad-"+name, e.image, "true")
		c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: sc}
		_, err := d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: c, SandboxConfig: pcfg})
		wantCode(t, name, err, codes.InvalidArgument)
	}
}
