package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the set of certificate files under <data-dir>/tls.
type pki struct {
	dir string
}

func (p pki) path(name string) string { return filepath.Join(p.dir, name) }

// CACert and friends name the files.
func (p pki) CACert() string      { return p.path("ca.crt") }
func (p pki) CAKey() string       { return p.path("ca.key") }
func (p pki) ServingCert() string { return p.path("serving.crt") }
func (p pki) ServingKey() string  { return p.path("serving.key") }
func (p pki) AdminCert() string   { return p.path("admin.crt") }
func (p pki) AdminKey() string    { return p.path("admin.key") }

// AgentClientCert and AgentClientKey are what the API server presents to
// node agents (as kube-apiserver's --kubelet-client-certificate).
func (p pki) AgentClientCert() string { return p.path("apiserver-agent-client.crt") }
func (p pki) AgentClientKey() string  { return p.path("apiserver-agent-client.key") }

// ServiceAccountKey is the RSA key that signs service account tokens
// (kube-apiserver's --service-account-signing-key-file); it is made on
// first start and kept, so tokens stay valid across restarts.
func (p pki) ServiceAccountKey() string { return p.path("service-account.key") }

// ensure creates what is missing: the CA on first start, then a serving
// certificate for the given names and addresses (renewed when they change)
// and the admin client certificate.
func (p pki) ensure(dnsNames []string, ips []net.IP) error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	caCert, caKey, err := p.loadOrCreateCA()
	if err != nil {
		return err
	}
	if !servingCertCovers(p.ServingCert(), dnsNames, ips) {
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: "corral-apiserver"},
			DNSNames:    dnsNames,
			IPAddresses: ips,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		if err := p.issue(caCert, caKey, tmpl, p.ServingCert(), p.ServingKey()); err != nil {
			return err
		}
	}
	if _, err := os.Stat(p.AdminCert()); errors.Is(err, os.ErrNotExist) {
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if err := p.issue(caCert, caKey, tmpl, p.AdminCert(), p.AdminKey()); err != nil {
			return err
		}
	}
	if _, err := os.Stat(p.AgentClientCert()); errors.Is(err, os.ErrNotExist) {
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: "corral-apiserver", Organization: []string{"system:masters"}},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if err := p.issue(caCert, caKey, tmpl, p.AgentClientCert(), p.AgentClientKey()); err != nil {
			return err
		}
	}
	return p.ensureServiceAccountKey()
}

// ensureServiceAccountKey creates the token signing key when missing. RSA
// (RS256), as upstream's default, because every JWT verifier knows it.
func (p pki) ensureServiceAccountKey() error {
	if _, err := os.Stat(p.ServiceAccountKey()); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	return writeFileAtomic(p.ServiceAccountKey(), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600)
}

func (p pki) loadOrCreateCA() (*x509.Certificate, crypto.Signer, error) {
	if cert, key, err := loadPair(p.CACert(), p.CAKey()); err == nil {
		return cert, key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("loading CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("corral-ca@%d", now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(p.CACert(), p.CAKey(), der, key); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func (p pki) issue(ca *x509.Certificate, caKey crypto.Signer, tmpl *x509.Certificate, certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.AddDate(1, 0, 0)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return err
	}
	return writePair(certFile, keyFile, der, key)
}

// servingCertCovers reports whether the existing serving certificate is
// valid for another month and names every wanted name and address.
func servingCertCovers(certFile string, dnsNames []string, ips []net.IP) bool {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return false
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || time.Until(cert.NotAfter) < 30*24*time.Hour {
		return false
	}
	for _, n := range dnsNames {
		if cert.VerifyHostname(n) != nil {
			return false
		}
	}
	for _, ip := range ips {
		if cert.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	return true
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func loadPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// writeFileAtomic writes through a temporary file so that a crash never
// leaves half a certificate or kubeconfig behind.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
