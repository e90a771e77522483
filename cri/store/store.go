// Package store keeps the CRI daemon's pods and containers: in-memory
// indexes over durable state on disk, one JSON file per object, each
// written atomically (a temporary file, fsync, rename, fsync of the
// directory), so a crash leaves either the old record or the new one.
//
// Layout under the store's directory:
//
//	pods/<id>.json        one Pod
//	containers/<id>.json  one Container
//
// # Changing state
//
// Objects are values: Get and List return copies, and the only way to
// change a stored object is Update, which runs a function on a copy,
// writes the result to disk and only then swaps it into the index. If the
// function or the write fails, nothing changes, on disk or in memory. Add
// writes a new object (a taken ID, or a taken pod name, is an
// ErrAlreadyExists); Delete removes the file and then the index entry.
//
// # Pod states
//
// The pod state machine (the sentry is the pod: there is no pause
// process):
//
//	             RunPodSandbox
//	                   |
//	                   v
//	              PodInit ----(start fails: rolled back, deleted)
//	                   |
//	    sentry answers | Ping
//	                   v
//	              PodReady
//	                   |
//	StopPodSandbox, or | the sentry died (seen at
//	sentry died        | restart or by a watcher)
//	                   v
//	             PodNotReady ----> RemovePodSandbox ----> (deleted)
//
// A pod found in PodInit when the daemon starts was caught by a crash in
// the middle of RunPodSandbox: it is cleaned up like a NotReady pod.
//
// # Container states
//
//	     CreateContainer
//	           |
//	           v
//	   ContainerCreated ----(StopContainer, pod stop,
//	           |             sentry died)------------+
//	StartContainer                                   |
//	           v                                     v
//	   ContainerRunning ---(exit, StopContainer,--> ContainerExited
//	                        pod stop, sentry died)   |
//	                                                 v
//	                                        RemoveContainer --> (deleted)
//
// (RemoveContainer also removes a Created or Running container, stopping
// it first, as the kubelet expects.)
//
// # Locking
//
// Store.mu guards the maps; it is held across the disk write of Add,
// Update and Delete so that writes of one object are ordered. It is a leaf
// lock: callers may hold their own locks around store calls, never the
// other way round.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/containerd/errdefs"
)

// Store holds pods and containers.
type Store struct {
	dir string

	mu         sync.Mutex
	pods       map[string]*Pod       // by ID; guarded by mu
	podNames   map[string]string     // pod name key -> ID; guarded by mu
	containers map[string]*Container // by ID; guarded by mu
	ctrNames   map[string]string     // container name key -> ID; guarded by mu
}

// Open loads (creating if needed) the store in dir.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir, pods: map[string]*Pod{}, podNames: map[string]string{},
		containers: map[string]*Container{}, ctrNames: map[string]string{}}
	for _, d := range []string{"pods", "containers"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	if err := load(filepath.Join(dir, "pods"), func(p *Pod) {
		s.pods[p.ID] = p
		s.podNames[p.NameKey()] = p.ID
	}); err != nil {
		return nil, err
	}
	if err := load(filepath.Join(dir, "containers"), func(c *Container) {
		s.containers[c.ID] = c
		s.ctrNames[c.NameKey()] = c.ID
	}); err != nil {
		return nil, err
	}
	return s, nil
}

func load[T any](dir string, add func(*T)) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") {
			// A temporary file left by a crash in the middle of a write.
			os.Remove(filepath.Join(dir, name))
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		v := new(T)
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("store: %s: %w", filepath.Join(dir, name), err)
		}
		add(v)
	}
	return nil
}

// writeFile writes v as path atomically.
func writeFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: writing %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// failWrite, if set, fails writes of paths containing it (tests).
var failWrite atomic.Pointer[string]

// SetFailWrite makes every write of a record whose path contains substr
// fail ("" turns it off). For failure-injection tests only.
func SetFailWrite(substr string) { failWrite.Store(&substr) }

func (s *Store) write(kind, id string, v any) error {
	p := filepath.Join(s.dir, kind, id+".json")
	if fw := failWrite.Load(); fw != nil && *fw != "" && strings.Contains(p, *fw) {
		return fmt.Errorf("store: writing %s: injected failure", p)
	}
	return writeFile(p, v)
}

func (s *Store) remove(kind, id string) error {
	err := os.Remove(filepath.Join(s.dir, kind, id+".json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// AddPod records a new pod. A taken ID or name is an ErrAlreadyExists.
func (s *Store) AddPod(p Pod) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pods[p.ID]; ok {
		return fmt.Errorf("pod sandbox %s: %w", p.ID, errdefs.ErrAlreadyExists)
	}
	if id, ok := s.podNames[p.NameKey()]; ok {
		return fmt.Errorf("pod sandbox name %q is taken by %s: %w", p.NameKey(), id, errdefs.ErrAlreadyExists)
	}
	c := p.clone()
	if err := s.write("pods", p.ID, c); err != nil {
		return err
	}
	s.pods[p.ID] = c
	s.podNames[p.NameKey()] = p.ID
	return nil
}

// Pod returns a copy of pod id. An unknown id is an ErrNotFound.
func (s *Store) Pod(id string) (Pod, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pods[id]
	if !ok {
		return Pod{}, fmt.Errorf("pod sandbox %q: %w", id, errdefs.ErrNotFound)
	}
	return *p.clone(), nil
}

// Pods returns copies of all pods, sorted by creation time.
func (s *Store) Pods() []Pod {
	s.mu.Lock()
	out := make([]Pod, 0, len(s.pods))
	for _, p := range s.pods {
		out = append(out, *p.clone())
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt < out[j].CreatedAt
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// UpdatePod applies f to a copy of pod id and stores the result. If f or
// the write fails, the pod is unchanged. It returns the new pod.
func (s *Store) UpdatePod(id string, f func(*Pod) error) (Pod, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.pods[id]
	if !ok {
		return Pod{}, fmt.Errorf("pod sandbox %q: %w", id, errdefs.ErrNotFound)
	}
	p := old.clone()
	if err := f(p); err != nil {
		return *old.clone(), err
	}
	p.ID, p.Metadata = old.ID, old.Metadata // identity never changes
	if err := s.write("pods", id, p); err != nil {
		return *old.clone(), err
	}
	s.pods[id] = p
	return *p.clone(), nil
}

// DeletePod forgets pod id (deleting an unknown pod succeeds).
func (s *Store) DeletePod(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pods[id]
	if !ok {
		return nil
	}
	if err := s.remove("pods", id); err != nil {
		return err
	}
	delete(s.pods, id)
	delete(s.podNames, p.NameKey())
	return nil
}

// AddContainer records a new container. A taken ID or a name taken in
// the same pod is an ErrAlreadyExists; an unknown pod an ErrNotFound.
func (s *Store) AddContainer(c Container) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pods[c.PodID]; !ok {
		return fmt.Errorf("pod sandbox %q: %w", c.PodID, errdefs.ErrNotFound)
	}
	if _, ok := s.containers[c.ID]; ok {
		return fmt.Errorf("container %s: %w", c.ID, errdefs.ErrAlreadyExists)
	}
	if id, ok := s.ctrNames[c.NameKey()]; ok {
		return fmt.Errorf("container name %q is taken by %s: %w", c.NameKey(), id, errdefs.ErrAlreadyExists)
	}
	n := c.clone()
	if err := s.write("containers", c.ID, n); err != nil {
		return err
	}
	s.containers[c.ID] = n
	s.ctrNames[c.NameKey()] = c.ID
	return nil
}

// Container returns a copy of container id. An unknown id is an
// ErrNotFound.
func (s *Store) Container(id string) (Container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		return Container{}, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	return *c.clone(), nil
}

// Containers returns copies of all containers (of pod podID only, if not
// ""), sorted by creation time.
func (s *Store) Containers(podID string) []Container {
	s.mu.Lock()
	out := make([]Container, 0, len(s.containers))
	for _, c := range s.containers {
		if podID == "" || c.PodID == podID {
			out = append(out, *c.clone())
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt < out[j].CreatedAt
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// UpdateContainer applies f to a copy of container id and stores the
// result. If f or the write fails, the container is unchanged.
func (s *Store) UpdateContainer(id string, f func(*Container) error) (Container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.containers[id]
	if !ok {
		return Container{}, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	c := old.clone()
	if err := f(c); err != nil {
		return *old.clone(), err
	}
	c.ID, c.PodID, c.Metadata = old.ID, old.PodID, old.Metadata
	if err := s.write("containers", id, c); err != nil {
		return *old.clone(), err
	}
	s.containers[id] = c
	return *c.clone(), nil
}

// DeleteContainer forgets container id (deleting an unknown one
// succeeds).
func (s *Store) DeleteContainer(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		return nil
	}
	if err := s.remove("containers", id); err != nil {
		return err
	}
	delete(s.containers, id)
	delete(s.ctrNames, c.NameKey())
	return nil
}

// ResolvePod finds a pod by full ID or unique ID prefix.
func (s *Store) ResolvePod(ref string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return resolve(ref, "pod sandbox", s.pods)
}

// ResolveContainer finds a container by full ID or unique ID prefix.
func (s *Store) ResolveContainer(ref string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return resolve(ref, "container", s.containers)
}

func resolve[T any](ref, what string, m map[string]T) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("%s ID is empty: %w", what, errdefs.ErrInvalidArgument)
	}
	if _, ok := m[ref]; ok {
		return ref, nil
	}
	found := ""
	for id := range m {
		if strings.HasPrefix(id, ref) {
			if found != "" {
				return "", fmt.Errorf("%s ID prefix %q is ambiguous: %w", what, ref, errdefs.ErrInvalidArgument)
			}
			found = id
		}
	}
	if found == "" {
		return "", fmt.Errorf("%s %q: %w", what, ref, errdefs.ErrNotFound)
	}
	return found, nil
}
