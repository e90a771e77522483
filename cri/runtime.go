package cri

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
)

// Directories under Config.Root.
const (
	stateDir      = "state"      // the store
	podsDir       = "pods"       // one directory per pod
	containersDir = "containers" // one directory per container
	socketsDir    = "s"          // control sockets (short paths: sun_path is 108 bytes)
)

// socketIDLen is how much of a pod ID names its control socket; pod IDs
// are made unique on it.
const socketIDLen = 12

func (s *Server) podDir(id string) string { return filepath.Join(s.cfg.Root, podsDir, id) }
func (s *Server) containerDir(id string) string {
	return filepath.Join(s.cfg.Root, containersDir, id)
}
func (s *Server) controlSocket(id string) string {
	return filepath.Join(s.cfg.Root, socketsDir, id[:socketIDLen]+".sock")
}

// newID returns a random 64-hex-digit ID whose first socketIDLen digits
// are not the start of any ID taken.
func newID(taken func(prefix string) bool) string {
	for {
		var b [32]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		if !taken(id[:socketIDLen]) {
			return id
		}
	}
}

// keyedMutex serialises operations on one object (a pod or a container).
// Lock order: a pod's lock before any of its containers' locks.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry // guarded by mu
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// injectFault is a failure-injection seam for tests: each step of
// RunPodSandbox and CreateContainer calls it with the step's name.
type injectFault func(step string) error

func (s *Server) fault(step string) error {
	if s.inject == nil {
		return nil
	}
	if err := s.inject(step); err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	return nil
}

// podConfig decodes a pod's stored config.
func podConfig(p *store.Pod) *runtimeapi.PodSandboxConfig {
	c := &runtimeapi.PodSandboxConfig{}
	proto.Unmarshal(p.Config, c)
	return c
}

// containerConfig decodes a container's stored config.
func containerConfig(c *store.Container) *runtimeapi.ContainerConfig {
	cc := &runtimeapi.ContainerConfig{}
	proto.Unmarshal(c.Config, cc)
	return cc
}

func podState(p *store.Pod) runtimeapi.PodSandboxState {
	if p.State == store.PodReady {
		return runtimeapi.PodSandboxState_SANDBOX_READY
	}
	return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
}

func containerState(c *store.Container) runtimeapi.ContainerState {
	switch c.State {
	case store.ContainerCreated:
		return runtimeapi.ContainerState_CONTAINER_CREATED
	case store.ContainerRunning:
		return runtimeapi.ContainerState_CONTAINER_RUNNING
	case store.ContainerExited:
		return runtimeapi.ContainerState_CONTAINER_EXITED
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN
}

func podMetadata(p *store.Pod) *runtimeapi.PodSandboxMetadata {
	m := p.Metadata
	return &runtimeapi.PodSandboxMetadata{Name: m.Name, Uid: m.UID, Namespace: m.Namespace, Attempt: m.Attempt}
}

func containerMetadata(c *store.Container) *runtimeapi.ContainerMetadata {
	return &runtimeapi.ContainerMetadata{Name: c.Metadata.Name, Attempt: c.Metadata.Attempt}
}

// matchLabels reports whether labels has every key=value of selector.
func matchLabels(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// events fans container events out to GetContainerEvents streams.
type events struct {
	mu   sync.Mutex
	subs map[chan *runtimeapi.ContainerEventResponse]struct{} // guarded by mu
}

func (e *events) subscribe() (chan *runtimeapi.ContainerEventResponse, func()) {
	ch := make(chan *runtimeapi.ContainerEventResponse, 256)
	e.mu.Lock()
	if e.subs == nil {
		e.subs = map[chan *runtimeapi.ContainerEventResponse]struct{}{}
	}
	e.subs[ch] = struct{}{}
	e.mu.Unlock()
	return ch, func() {
		e.mu.Lock()
		delete(e.subs, ch)
		e.mu.Unlock()
	}
}

// publish sends ev to every subscriber; a subscriber too slow to keep 256
// events buffered loses the event rather than stalling the runtime.
func (e *events) publish(ev *runtimeapi.ContainerEventResponse) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for ch := range e.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// emit publishes an event about container c (which may be gone).
func (s *Server) emit(typ runtimeapi.ContainerEventType, c *store.Container) {
	ev := &runtimeapi.ContainerEventResponse{
		ContainerId:        c.ID,
		ContainerEventType: typ,
		CreatedAt:          time.Now().UnixNano(),
	}
	if p, err := s.store.Pod(c.PodID); err == nil {
		ev.PodSandboxStatus = s.podStatus(&p)
		for _, oc := range s.store.Containers(p.ID) {
			ev.ContainersStatuses = append(ev.ContainersStatuses, s.containerStatus(&oc))
		}
	}
	if typ == runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT {
		ev.ContainersStatuses = append(ev.ContainersStatuses, s.containerStatus(c))
	}
	s.events.publish(ev)
}

// bg is a context for clean-ups that must finish even if the call's
// context was cancelled.
func bg(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
