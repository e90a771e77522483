package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
)

func TestPodsAndContainersSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := Pod{ID: "p1", Metadata: Metadata{Name: "web", Namespace: "default", UID: "u1"}, State: PodInit, CreatedAt: 1,
		Labels: map[string]string{"a": "b"}}
	if err := s.AddPod(p); err != nil {
		t.Fatal(err)
	}
	p2 := p
	p2.ID = "p2"
	if err := s.AddPod(p2); !errdefs.IsAlreadyExists(err) {
		t.Errorf("same name: %v, want AlreadyExists", err)
	}
	if err := s.AddPod(p); !errdefs.IsAlreadyExists(err) {
		t.Errorf("same ID: %v, want AlreadyExists", err)
	}
	if _, err := s.UpdatePod("p1", func(p *Pod) error { p.State = PodReady; p.Labels["a"] = "c"; return nil }); err != nil {
		t.Fatal(err)
	}
	// A failing update changes nothing, not even through shared maps.
	if _, err := s.UpdatePod("p1", func(p *Pod) error { p.State = PodNotReady; p.Labels["a"] = "x"; return errors.New("no") }); err == nil {
		t.Fatal("failing update succeeded")
	}
	SetFailWrite("pods")
	_, err = s.UpdatePod("p1", func(p *Pod) error { p.State = PodNotReady; return nil })
	SetFailWrite("")
	if err == nil {
		t.Fatal("update with a failing write succeeded")
	}
	c := Container{ID: "c1", PodID: "p1", Metadata: Metadata{Name: "app"}, State: ContainerCreated, CreatedAt: 2}
	if err := s.AddContainer(c); err != nil {
		t.Fatal(err)
	}
	if err := s.AddContainer(Container{ID: "c2", PodID: "nope"}); !errdefs.IsNotFound(err) {
		t.Errorf("unknown pod: %v", err)
	}
	c.ID = "c3"
	if err := s.AddContainer(c); !errdefs.IsAlreadyExists(err) {
		t.Errorf("same container name: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "pods", ".tmp-junk"), []byte("x"), 0o600)

	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Pod("p1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != PodReady || got.Labels["a"] != "c" {
		t.Errorf("reloaded pod: %+v", got)
	}
	if id, err := s2.ResolveContainer("c"); err != nil || id != "c1" {
		t.Errorf("resolve prefix: %q %v", id, err)
	}
	if err := s2.DeleteContainer("c1"); err != nil {
		t.Fatal(err)
	}
	if err := s2.DeleteContainer("c1"); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if _, err := s2.Container("c1"); !errdefs.IsNotFound(err) {
		t.Errorf("deleted container: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pods", ".tmp-junk")); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}
