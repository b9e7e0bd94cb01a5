package network

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCNIConfigContent(t *testing.T) {
	dir := t.TempDir()
	ipam := filepath.Join(dir, "ipam")
	path, err := WriteCNIConfig(filepath.Join(dir, "net.d"), "10.42.3.0/24", CNIOptions{IPAMDataDir: ipam, Bridge: "cbr7"})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != DefaultConfFile {
		t.Fatalf("path %s", path)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("want only the conflist in the dir (no temp file left), got %v", ents)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.CNIVersion != "1.0.0" || got.Name != "corral" || len(got.Plugins) != 2 {
		t.Fatalf("conflist: %s", b)
	}
	br, pm := got.Plugins[0], got.Plugins[1]
	if br["type"] != "bridge" || br["bridge"] != "cbr7" || br["isGateway"] != true || br["hairpinMode"] != true || br["ipMasq"] != false {
		t.Errorf("bridge plugin: %v", br)
	}
	ipamConf, _ := br["ipam"].(map[string]any)
	ranges, _ := json.Marshal(ipamConf["ranges"])
	routes, _ := json.Marshal(ipamConf["routes"])
	if ipamConf["type"] != "host-local" || ipamConf["dataDir"] != ipam ||
		string(ranges) != `[[{"subnet":"10.42.3.0/24"}]]` || string(routes) != `[{"dst":"0.0.0.0/0"}]` {
		t.Errorf("ipam: %v", ipamConf)
	}
	caps, _ := pm["capabilities"].(map[string]any)
	if pm["type"] != "portmap" || caps["portMappings"] != true {
		t.Errorf("portmap plugin: %v", pm)
	}
	if strings.Contains(string(b), "loopback") {
		t.Errorf("no loopback plugin wanted: %s", b)
	}

	// Rewriting replaces the file.
	if _, err := WriteCNIConfig(filepath.Dir(path), "fd00:42::/64", CNIOptions{IPAMDataDir: ipam}); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if !strings.Contains(string(b), `"fd00:42::/64"`) || !strings.Contains(string(b), `"::/0"`) || !strings.Contains(string(b), `"corral0"`) {
		t.Errorf("IPv6 rewrite: %s", b)
	}
}

func TestCNIConfigRejectsBadInput(t *testing.T) {
	for name, c := range map[string]struct {
		cidr string
		opts CNIOptions
	}{
		"not a CIDR":    {"10.42.0.0", CNIOptions{IPAMDataDir: "/x"}},
		"host bits":     {"10.42.0.1/24", CNIOptions{IPAMDataDir: "/x"}},
		"no IPAM dir":   {"10.42.0.0/24", CNIOptions{}},
		"relative IPAM": {"10.42.0.0/24", CNIOptions{IPAMDataDir: "ipam"}},
		"long bridge":   {"10.42.0.0/24", CNIOptions{IPAMDataDir: "/x", Bridge: "a-very-long-bridge-name"}},
	} {
		if _, err := CNIConfig(c.cidr, c.opts); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
