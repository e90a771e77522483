// Package network gives pods their network the way containerd does it
// with CNI, then hands the interface over to the pod's sentry as gVisor
// does.
//
// # The model
//
// Every pod gets a host network namespace of its own, created by the
// daemon (unshare(CLONE_NEWNET) on a throw-away thread) and bind-mounted
// on <root>/netns/<pod-id>, so that it outlives a daemon restart without
// any process in it (Prepare). The pod's sentry is started inside it (Do:
// the fork happens on a thread in the namespace), so the sentry process
// never holds anything of the host's network, as gVisor's sandbox. While
// the sentry starts, RunPodSandbox runs CNI ADD (Add: libcni, the first
// network configuration of the config dir, plugins from the bin dir) for
// the namespace with interface eth0, the kubelet's CNI_ARGS
// (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID,
// K8S_POD_UID, IgnoreUnknown) and the capability arguments portMappings,
// dns and bandwidth (from the kubernetes.io/{ingress,egress}-bandwidth
// annotations). The plugins set up eth0 in the namespace (bridge + veth,
// host-local IPAM, portmap's DNAT on the host...).
//
// Then Handoff (handoff.go) moves eth0's addresses into the sentry: in
// the namespace it reads eth0's addresses, MAC, MTU and routes, opens an
// AF_PACKET socket bound to eth0 and removes the addresses and routes
// from eth0 (and disables IPv6 on it), so the host kernel no longer
// answers for the pod: no ARP replies, no RSTs racing the sentry's stack.
// The socket and the configuration go to the sentry over control
// ConfigureNetwork; from then on the pod's netstack sends and receives
// Ethernet frames on eth0 itself. On the host side of the veth, segment
// and checksum offloads are turned off, so frames reach the socket as
// real frames no longer than the MTU with their checksums computed.
//
// StopPodSandbox runs CNI DEL (idempotent: a pod whose ADD never ran or
// whose DEL already ran is left alone; a namespace that is gone is
// passed as "" as the CNI spec allows) with the configuration and
// arguments recorded at ADD, so a configuration changed meanwhile does not
// leak addresses or iptables rules. RemovePodSandbox deletes the
// namespace and the record. A failed RunPodSandbox rolls back the same
// way.
//
// Each pod's state is a JSON record in <root>/network/<pod-id>.json
// (written before ADD, so that a daemon dying during ADD still leads to
// a DEL). A daemon restart changes nothing: the namespace stays mounted,
// the sentry keeps its socket.
//
// Without any CNI configuration a pod still starts, with loopback only
// (Prepare returns nil): containerd refuses RunPodSandbox then, but our
// tests and users of loopback-only pods rely on them (`runsc-cri do` does
// not go through the daemon at all). Its sentry is started in a new,
// empty, unnamed namespace (InNewNetNS: nothing to mount, record or
// remove; it ends with the sentry), so no sentry ever shares the host's
// network namespace. The runtime's NetworkReady condition says which case
// holds.
//
// # Locking
//
// The manager holds no lock: the daemon serialises operations on one pod
// (its pod lock), and pods do not share state here. CNI plugins lock
// their own shared state (host-local's IP store, iptables).
package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"k8s.io/apimachinery/pkg/api/resource"
)

// IfName is the pod's interface.
const IfName = "eth0"

// Options configure a Manager.
type Options struct {
	// ConfDir holds CNI network configurations (.conflist, .conf, .json);
	// the first in lexical order that loads is used.
	ConfDir string
	// BinDirs are searched for plugins.
	BinDirs []string
	// Root is the daemon's state directory: namespaces go to
	// Root/netns, records to Root/network, libcni's cache to
	// Root/network/cache.
	Root string
	Log  *slog.Logger
}

// Manager sets up and tears down pod networks.
type Manager struct {
	o   Options
	cni *libcni.CNIConfig
}

// New returns a manager; it creates its directories.
func New(o Options) (*Manager, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	for _, d := range []string{filepath.Join(o.Root, "netns"), filepath.Join(o.Root, "network", "cache")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	m := &Manager{o: o}
	m.cni = libcni.NewCNIConfigWithCacheDir(o.BinDirs, filepath.Join(o.Root, "network", "cache"), &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}})
	return m, nil
}

// ErrNoConfig is returned by Config when the config dir holds no network
// configuration.
var ErrNoConfig = errors.New("cni config uninitialized")

// Config loads the first network configuration of the config dir.
func (m *Manager) Config() (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(m.o.ConfDir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoConfig, err)
	}
	sort.Strings(files)
	var firstErr error
	for _, f := range files {
		var list *libcni.NetworkConfigList
		if strings.HasSuffix(f, ".conflist") {
			list, err = libcni.ConfListFromFile(f)
		} else {
			var c *libcni.NetworkConfig
			if c, err = libcni.ConfFromFile(f); err == nil {
				list, err = libcni.ConfListFromConf(c)
			}
		}
		if err == nil && len(list.Plugins) > 0 {
			return list, nil
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("%s: %v", f, err)
		}
	}
	if firstErr != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoConfig, firstErr)
	}
	return nil, ErrNoConfig
}

// Status says whether pods get a CNI network: nil when a configuration
// loads and all its plugins are found; otherwise an error whose text is
// the NetworkReady condition's message.
func (m *Manager) Status() error {
	list, err := m.Config()
	if err != nil {
		return err
	}
	for _, p := range list.Plugins {
		if _, err := invoke.FindInPath(p.Network.Type, m.o.BinDirs); err != nil {
			return fmt.Errorf("cni plugin not initialized: network %q: %v", list.Name, err)
		}
	}
	return nil
}

// PortMapping is one hostPort (portmap's capability argument).
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"` // "tcp", "udp", "sctp"
	HostIP        string `json:"hostIP,omitempty"`
}

// DNS is the dns capability argument.
type DNS struct {
	Servers  []string `json:"servers,omitempty"`
	Searches []string `json:"searches,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// Pod is what CNI is told about a pod.
type Pod struct {
	ID, Name, Namespace, UID string
	PortMappings             []PortMapping
	DNS                      *DNS
	Annotations              map[string]string
}

// Attachment is a pod's network, as recorded.
type Attachment struct {
	PodID string `json:"podID"`
	// NetNS is the namespace's path.
	NetNS string `json:"netns"`
	// Network is the configuration's name; ConfList its bytes at ADD.
	Network  string          `json:"network"`
	ConfList json.RawMessage `json:"confList"`
	// Args and CapabilityArgs are the runtime arguments given to ADD.
	Args           [][2]string    `json:"args"`
	CapabilityArgs map[string]any `json:"capabilityArgs,omitempty"`
	// Added is set once ADD was started (DEL is needed), cleared by DEL.
	Added bool `json:"added"`
	// IPs are the pod's addresses from the result (CIDR form), IPv4 first.
	IPs []string `json:"ips,omitempty"`
	// Result is the CNI result.
	Result json.RawMessage `json:"result,omitempty"`
}

// PodIPs returns the addresses without prefix length, IPv4 first.
func (a *Attachment) PodIPs() []string {
	var out []string
	for _, c := range a.IPs {
		ip, _, _ := strings.Cut(c, "/")
		out = append(out, ip)
	}
	return out
}

func (m *Manager) netnsPath(id string) string { return filepath.Join(m.o.Root, "netns", id) }
func (m *Manager) recordPath(id string) string {
	return filepath.Join(m.o.Root, "network", id+".json")
}

// Attachment returns pod id's record, nil if it has none (no network, or
// a pod with loopback only).
func (m *Manager) Attachment(id string) (*Attachment, error) {
	b, err := os.ReadFile(m.recordPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a := &Attachment{}
	if err := json.Unmarshal(b, a); err != nil {
		return nil, fmt.Errorf("network record of pod %s: %w", id, err)
	}
	return a, nil
}

func (m *Manager) save(a *Attachment) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	tmp := m.recordPath(a.PodID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, m.recordPath(a.PodID))
}

func (a *Attachment) runtimeConf(netns string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: a.PodID, NetNS: netns, IfName: IfName, Args: a.Args, CapabilityArgs: a.CapabilityArgs}
}

// Prepare loads the network configuration and creates pod's namespace,
// recording both (ADD has not run yet). Without a CNI configuration it
// does nothing and returns nil, nil: the pod has loopback only. On
// failure nothing is left.
func (m *Manager) Prepare(pod Pod) (_ *Attachment, retErr error) {
	list, err := m.Config()
	if errors.Is(err, ErrNoConfig) {
		if err != ErrNoConfig { // files there, none usable
			m.o.Log.Warn("pod network: no usable CNI configuration, the pod has loopback only", "pod", pod.ID, "err", err)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a := &Attachment{
		PodID:    pod.ID,
		NetNS:    m.netnsPath(pod.ID),
		Network:  list.Name,
		ConfList: list.Bytes,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", pod.Namespace},
			{"K8S_POD_NAME", pod.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", pod.ID},
			{"K8S_POD_UID", pod.UID},
		},
		CapabilityArgs: capabilityArgs(pod),
	}
	if !json.Valid(a.ConfList) {
		// A .conf turned into a list has no bytes of its own.
		b, err := json.Marshal(confListJSON(list))
		if err != nil {
			return nil, err
		}
		a.ConfList = b
	}
	if err := createNetNS(a.NetNS); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			removeNetNS(a.NetNS)
		}
	}()
	if err := m.save(a); err != nil {
		return nil, fmt.Errorf("network record: %w", err)
	}
	return a, nil
}

// Add runs CNI ADD for a prepared pod and records the result. When it
// fails, DEL has run (the CNI spec asks for a DEL after a failed ADD);
// the namespace and the record stay for Remove.
func (m *Manager) Add(ctx context.Context, a *Attachment) error {
	list, err := libcni.ConfListFromBytes(a.ConfList)
	if err != nil {
		return fmt.Errorf("network configuration: %w", err)
	}
	a.Added = true // from now on a DEL is due, whatever happens
	if err := m.save(a); err != nil {
		return fmt.Errorf("network record: %w", err)
	}
	res, err := m.cni.AddNetworkList(ctx, list, a.runtimeConf(a.NetNS))
	if err == nil {
		err = a.setResult(res)
	}
	if err == nil {
		err = m.save(a)
	}
	if err != nil {
		if derr := m.Teardown(context.WithoutCancel(ctx), a.PodID); derr != nil {
			m.o.Log.Error("CNI DEL after a failed ADD", "pod", a.PodID, "err", derr)
		}
		return fmt.Errorf("CNI ADD (network %q): %w", list.Name, err)
	}
	return nil
}

// setResult records the CNI result and the pod's addresses, IPv4 first.
func (a *Attachment) setResult(res types.Result) error {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return fmt.Errorf("result: %w", err)
	}
	var v4, v6 []string
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() != nil {
			v4 = append(v4, ip.Address.String())
		} else {
			v6 = append(v6, ip.Address.String())
		}
	}
	a.IPs = append(v4, v6...)
	a.Result, err = json.Marshal(r)
	return err
}

// Setup is Prepare and Add; on failure everything is undone.
func (m *Manager) Setup(ctx context.Context, pod Pod) (_ *Attachment, retErr error) {
	a, err := m.Prepare(pod)
	if a == nil || err != nil {
		return nil, err
	}
	if err := m.Add(ctx, a); err != nil {
		if rerr := m.Remove(context.WithoutCancel(ctx), pod.ID); rerr != nil {
			m.o.Log.Error("rollback: pod network", "pod", pod.ID, "err", rerr)
		}
		return nil, err
	}
	return a, nil
}

// Do runs fn on a thread inside a's namespace: a process fn starts
// (exec.Cmd.Start forks from the calling thread) is born in it. fn must
// not start goroutines that expect to be in the namespace.
func (m *Manager) Do(a *Attachment, fn func() error) error {
	return inNetNS(a.NetNS, fn)
}

// confListJSON rebuilds a configuration list from its plugins.
func confListJSON(list *libcni.NetworkConfigList) map[string]any {
	var plugins []json.RawMessage
	for _, p := range list.Plugins {
		plugins = append(plugins, p.Bytes)
	}
	return map[string]any{"cniVersion": list.CNIVersion, "name": list.Name, "plugins": plugins}
}

// capabilityArgs are the runtimeConfig values offered to the plugins
// (libcni passes each only to plugins declaring the capability).
func capabilityArgs(pod Pod) map[string]any {
	c := map[string]any{}
	if len(pod.PortMappings) > 0 {
		c["portMappings"] = pod.PortMappings
	}
	if pod.DNS != nil && (len(pod.DNS.Servers)+len(pod.DNS.Searches)+len(pod.DNS.Options)) > 0 {
		c["dns"] = pod.DNS
	}
	bw := map[string]uint64{}
	for key, ann := range map[string]string{"ingress": "kubernetes.io/ingress-bandwidth", "egress": "kubernetes.io/egress-bandwidth"} {
		v, ok := pod.Annotations[ann]
		if !ok {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Value() <= 0 {
			continue
		}
		bw[key+"Rate"] = uint64(q.Value())
		bw[key+"Burst"] = math.MaxInt32 // as the kubelet's dockershim did: no burst limit
	}
	if len(bw) > 0 {
		c["bandwidth"] = bw
	}
	return c
}

// Teardown runs CNI DEL for pod id if ADD ran and DEL did not yet. The
// recorded configuration and arguments are used; a namespace that is gone
// is passed as "". The namespace itself stays (Remove deletes it).
func (m *Manager) Teardown(ctx context.Context, id string) error {
	a, err := m.Attachment(id)
	if err != nil || a == nil || !a.Added {
		return err
	}
	list, err := libcni.ConfListFromBytes(a.ConfList)
	if err != nil {
		return fmt.Errorf("CNI DEL: recorded configuration: %w", err)
	}
	netns := a.NetNS
	if !isNetNS(netns) {
		netns = ""
	}
	if err := m.cni.DelNetworkList(ctx, list, a.runtimeConf(netns)); err != nil {
		return fmt.Errorf("CNI DEL (network %q): %w", list.Name, err)
	}
	a.Added = false
	return m.save(a)
}

// Remove tears the pod's network down (if needed) and deletes its
// namespace and record. A pod without a network is fine.
func (m *Manager) Remove(ctx context.Context, id string) error {
	if err := m.Teardown(ctx, id); err != nil {
		return err
	}
	if err := removeNetNS(m.netnsPath(id)); err != nil {
		return err
	}
	if err := os.Remove(m.recordPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
