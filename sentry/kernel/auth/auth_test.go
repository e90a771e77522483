package auth

import "testing"

func TestCanAccess(t *testing.T) {
	user := NewCredentials(1000, 1000, []KGID{50}, DefaultContainerCaps)
	root := NewCredentials(0, 0, nil, DefaultContainerCaps)
	cases := []struct {
		name   string
		c      *Credentials
		access int
		perm   uint32
		uid    KUID
		gid    KGID
		dir    bool
		want   bool
	}{
		{"owner read", user, MayRead, 0o400, 1000, 0, false, true},
		{"owner no write", user, MayWrite, 0o400, 1000, 0, false, false},
		{"group via supplementary", user, MayRead, 0o040, 0, 50, false, true},
		{"owner bits win over group", user, MayRead, 0o040, 1000, 50, false, false},
		{"other", user, MayExec, 0o001, 0, 0, false, true},
		{"other denied", user, MayRead, 0o770, 0, 0, false, false},
		{"root overrides read", root, MayRead | MayWrite, 0o000, 1000, 1000, false, true},
		{"root needs an x bit to exec a file", root, MayExec, 0o600, 1000, 1000, false, false},
		{"root execs with any x bit", root, MayExec, 0o010, 1000, 1000, false, true},
		{"root searches any directory", root, MayExec, 0o000, 1000, 1000, true, true},
	}
	for _, c := range cases {
		if got := c.c.CanAccess(c.access, c.perm, c.uid, c.gid, c.dir); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestNonRootHasNoEffectiveCaps(t *testing.T) {
	c := NewCredentials(1000, 1000, nil, DefaultContainerCaps)
	if c.HasCapability(CapDacOverride) || c.Effective != 0 {
		t.Fatal("a non-root user must start without effective capabilities")
	}
	if c.Bounding != DefaultContainerCaps {
		t.Fatal("bounding set lost")
	}
	f := c.Fork()
	f.Groups = append(f.Groups, 7)
	if len(c.Groups) != 0 {
		t.Fatal("Fork shares the group slice")
	}
}

func TestForExec(t *testing.T) {
	user := NewCredentials(1000, 1000, nil, DefaultContainerCaps)
	// A set-user-ID root file: euid 0 and the bounding set.
	n := user.ForExec(0, true, 0, false)
	if n.RealUID != 1000 || n.EffectiveUID != 0 || n.SavedUID != 0 || n.FSUID != 0 ||
		n.Effective != DefaultContainerCaps || n.Permitted != DefaultContainerCaps {
		t.Errorf("setuid root: %+v", n)
	}
	// Under no_new_privs the bit is ignored and nothing is gained.
	nnp := user.Fork()
	nnp.NoNewPrivs = true
	if n := nnp.ForExec(0, true, 0, true); n.EffectiveUID != 1000 || n.EffectiveGID != 1000 || n.Effective != 0 || n.Permitted != 0 || !n.NoNewPrivs {
		t.Errorf("no_new_privs: %+v", n)
	}
	// A plain file: a user gets nothing, root keeps its bounding set.
	if n := user.ForExec(0, false, 0, false); n.EffectiveUID != 1000 || n.Effective != 0 {
		t.Errorf("plain exec by a user: %+v", n)
	}
	root := NewCredentials(0, 0, nil, DefaultContainerCaps)
	dropped := root.Fork()
	dropped.Effective = 0
	if n := dropped.ForExec(0, false, 0, false); n.Effective != DefaultContainerCaps {
		t.Errorf("plain exec by root: %+v", n)
	}
	// Root running a set-user-ID file of a user keeps its permitted set
	// (real uid 0) but not the effective one.
	if n := root.ForExec(1000, true, 0, false); n.EffectiveUID != 1000 || n.Effective != 0 || n.Permitted != DefaultContainerCaps {
		t.Errorf("root runs a setuid-user file: %+v", n)
	}
}
