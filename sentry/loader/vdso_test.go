package loader

import (
	"strings"
	"testing"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/mm"
)

// vdsoPlatform is a nopPlatform with a vDSO above MaxUserAddress.
type vdsoPlatform struct{ nopPlatform }

const testVDSO = 0x7ffff0002000

func (vdsoPlatform) MaxUserAddress() uintptr { return 0x7ffff0000000 }
func (vdsoPlatform) VDSO() (platform.VDSO, bool) {
	return platform.VDSO{Base: testVDSO, Mappings: []platform.VDSOMapping{
		{Start: testVDSO - 0x2000, End: testVDSO, Name: "[vvar]", Access: platform.Read},
		{Start: testVDSO, End: testVDSO + 0x2000, Name: "[vdso]", Access: platform.AccessType{Read: true, Execute: true}},
	}}, true
}

// TestVDSOAuxv: with a platform vDSO, AT_SYSINFO_EHDR points at it (and
// comes first, as on Linux); without one it is absent.
func TestVDSOAuxv(t *testing.T) {
	need(t, "/bin/busybox")
	e := newTestEnv(t)
	for _, p := range []platform.Platform{vdsoPlatform{}, nopPlatform{}} {
		m, err := mm.New(p, e.mf)
		if err != nil {
			t.Fatal(err)
		}
		argv := []string{"busybox", "true"}
		res, err := Load(m, ids(Args{Filename: "/bin/busybox", Argv: argv, Opener: e.open}))
		if err != nil {
			t.Fatal(err)
		}
		aux := checkStack(t, m, res, argv, nil, "/bin/busybox")
		_, hasVDSO := p.(platform.VDSOProvider)
		switch {
		case hasVDSO && (aux[AT_SYSINFO_EHDR] != testVDSO || res.Auxv[0] != AT_SYSINFO_EHDR):
			t.Errorf("AT_SYSINFO_EHDR = %#x, auxv %v", aux[AT_SYSINFO_EHDR], res.Auxv)
		case !hasVDSO && aux[AT_SYSINFO_EHDR] != 0:
			t.Errorf("AT_SYSINFO_EHDR = %#x without a vDSO", aux[AT_SYSINFO_EHDR])
		}
		if maps := string(m.Maps()); hasVDSO != strings.Contains(maps, "[vdso]") {
			t.Errorf("maps:\n%s", maps)
		}
		m.DecUsers()
	}
}
