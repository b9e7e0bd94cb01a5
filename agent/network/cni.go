package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// Defaults of the CNI configuration.
const (
	DefaultBridge      = "corral0"
	DefaultNetworkName = "corral"
	// DefaultConfFile sorts first, as the CRI plugin (max_conf_num = 1)
	// loads only the first file of its conf_dir.
	DefaultConfFile = "10-corral.conflist"
)

// CNIOptions tune WriteCNIConfig.
type CNIOptions struct {
	// IPAMDataDir is host-local's dataDir (required): keep it under the
	// agent's data directory so several agents on one machine never share
	// allocations.
	IPAMDataDir string
	Bridge      string // bridge device, default corral0
	NetworkName string // default corral
	FileName    string // default 10-corral.conflist
	MTU         int    // 0: the plugin's default
}

type conflist struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

type bridgeConf struct {
	Type        string   `json:"type"`
	Bridge      string   `json:"bridge"`
	IsGateway   bool     `json:"isGateway"`
	HairpinMode bool     `json:"hairpinMode"`
	IPMasq      bool     `json:"ipMasq"`
	MTU         int      `json:"mtu,omitempty"`
	IPAM        ipamConf `json:"ipam"`
}

type ipamConf struct {
	Type    string        `json:"type"`
	Ranges  [][]rangeConf `json:"ranges"`
	Routes  []routeConf   `json:"routes"`
	DataDir string        `json:"dataDir"`
}

type rangeConf struct {
	Subnet string `json:"subnet"`
}

type routeConf struct {
	Dst string `json:"dst"`
}

type portmapConf struct {
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities"`
}

// CNIConfig returns the conflist (cniVersion 1.0.0) for a node whose pods
// take addresses from podCIDR: a bridge that is the pods' gateway (hairpin
// on, no masquerading), host-local IPAM over podCIDR with a default route,
// and portmap for hostPort mappings. No loopback plugin: the CRI plugin
// brings lo up itself.
func CNIConfig(podCIDR string, opts CNIOptions) ([]byte, error) {
	p, err := netip.ParsePrefix(podCIDR)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", podCIDR, err)
	}
	if p != p.Masked() {
		return nil, fmt.Errorf("pod CIDR %q has host bits set (did you mean %s?)", podCIDR, p.Masked())
	}
	if opts.IPAMDataDir == "" {
		return nil, errors.New("CNI config: IPAMDataDir is required")
	}
	if !filepath.IsAbs(opts.IPAMDataDir) {
		return nil, fmt.Errorf("CNI config: IPAMDataDir %q must be absolute", opts.IPAMDataDir)
	}
	bridge := opts.Bridge
	if bridge == "" {
		bridge = DefaultBridge
	}
	if len(bridge) > 15 {
		return nil, fmt.Errorf("bridge name %q is longer than 15 bytes", bridge)
	}
	name := opts.NetworkName
	if name == "" {
		name = DefaultNetworkName
	}
	def := "0.0.0.0/0"
	if p.Addr().Is6() {
		def = "::/0"
	}
	cl := conflist{CNIVersion: "1.0.0", Name: name, Plugins: []any{
		bridgeConf{Type: "bridge", Bridge: bridge, IsGateway: true, HairpinMode: true, IPMasq: false, MTU: opts.MTU,
			IPAM: ipamConf{Type: "host-local", Ranges: [][]rangeConf{{{Subnet: p.String()}}},
				Routes: []routeConf{{Dst: def}}, DataDir: opts.IPAMDataDir}},
		portmapConf{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}},
	}}
	return json.MarshalIndent(cl, "", "  ")
}

// WriteCNIConfig writes CNIConfig(podCIDR, opts) into dir (created if
// missing) atomically: a temporary file renamed over the old one, so the
// CRI plugin never reads half a file. The temporary name does not end in
// .conflist, so the plugin never loads it.
func WriteCNIConfig(dir, podCIDR string, opts CNIOptions) (string, error) {
	b, err := CNIConfig(podCIDR, opts)
	if err != nil {
		return "", err
	}
	file := opts.FileName
	if file == "" {
		file = DefaultConfFile
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".corral-cni-*.tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	path := filepath.Join(dir, file)
	return path, os.Rename(tmp.Name(), path)
}
