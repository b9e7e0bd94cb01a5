package server

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePortRange(t *testing.T) {
	base, size, err := parsePortRange("30000-32767")
	if err != nil || base != 30000 || size != 2768 {
		t.Fatalf("got %d %d %v", base, size, err)
	}
	for _, bad := range []string{"", "30000", "5-1", "0-10", "1-70000", "a-b"} {
		if _, _, err := parsePortRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEnsureTokenIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	first, err := ensureToken(path, "")
	if err != nil || len(first) < 32 {
		t.Fatalf("new token %q: %v", first, err)
	}
	again, err := ensureToken(path, "")
	if err != nil || again != first {
		t.Fatalf("token changed on restart: %q vs %q", again, first)
	}
	given, err := ensureToken(path, "mine")
	if err != nil || given != "mine" {
		t.Fatalf("--token: %q %v", given, err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", info.Mode())
	}
}

func TestPKIKeepsCAAndCoversNames(t *testing.T) {
	p := pki{dir: t.TempDir()}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.43.0.1")}
	if err := p.ensure([]string{"localhost"}, ips); err != nil {
		t.Fatal(err)
	}
	ca1, _ := os.ReadFile(p.CACert())
	// A new name re-issues the serving certificate, never the CA.
	if err := p.ensure([]string{"localhost", "corral.example"}, ips); err != nil {
		t.Fatal(err)
	}
	ca2, _ := os.ReadFile(p.CACert())
	if string(ca1) != string(ca2) {
		t.Fatal("CA changed")
	}
	if !servingCertCovers(p.ServingCert(), []string{"corral.example"}, ips) {
		t.Fatal("serving certificate lacks the new name")
	}
	// The admin certificate is signed by the CA and carries system:masters.
	data, _ := os.ReadFile(p.AdminCert())
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.Subject.Organization[0] != "system:masters" {
		t.Fatalf("admin cert: %v %v", cert.Subject, err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca2)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("admin cert does not verify: %v", err)
	}
	if info, _ := os.Stat(p.CAKey()); info.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v", info.Mode())
	}
}

func TestRunRefusesBadNodeLifecycleFlags(t *testing.T) {
	for name, edit := range map[string]func(*Config){
		"node-monitor-grace-period":              func(c *Config) { c.NodeMonitorGracePeriod = 0 },
		"node-eviction-rate":                     func(c *Config) { c.NodeEvictionRate = -1 },
		"default-unreachable-toleration-seconds": func(c *Config) { c.DefaultUnreachableTolerationSeconds = -3 },
	} {
		cfg := Defaults()
		cfg.DataDir = t.TempDir()
		edit(&cfg)
		err := Run(t.Context(), cfg)
		if err == nil || !strings.Contains(err.Error(), "--"+name) {
			t.Errorf("%s: got %v, want an error naming the flag", name, err)
		}
		// Refused before anything was made: no token, no certificates.
		if entries, _ := os.ReadDir(cfg.DataDir); len(entries) != 0 {
			t.Errorf("%s: the refused start wrote %d entries", name, len(entries))
		}
	}
}
