package apiserver

import (
	"crypto/sha256"
	"net/http"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// cachedCertAuthenticator remembers successful client-certificate
// verifications. Without it every request re-verifies the chain, an ECDSA
// signature check that cost a quarter of the CPU of a pod create. An entry
// lives until the certificate expires, at most a few minutes, and is keyed
// by the whole presented chain, so a changed chain is verified afresh.
type cachedCertAuthenticator struct {
	delegate authenticator.Request
	ttl      time.Duration
	now      func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]certCacheEntry
}

type certCacheEntry struct {
	resp    *authenticator.Response
	expires time.Time
}

const certCacheMax = 1024

func newCachedCertAuthenticator(delegate authenticator.Request) *cachedCertAuthenticator {
	return &cachedCertAuthenticator{delegate: delegate, ttl: 2 * time.Minute, now: time.Now, entries: map[[32]byte]certCacheEntry{}}
}

func (c *cachedCertAuthenticator) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	h := sha256.New()
	for _, cert := range req.TLS.PeerCertificates {
		h.Write(cert.Raw)
	}
	var key [32]byte
	copy(key[:], h.Sum(nil))
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.resp, true, nil
	}
	resp, ok, err := c.delegate.AuthenticateRequest(req)
	if !ok || err != nil {
		return resp, ok, err
	}
	expires := now.Add(c.ttl)
	if leaf := req.TLS.PeerCertificates[0]; leaf.NotAfter.Before(expires) {
		expires = leaf.NotAfter
	}
	c.mu.Lock()
	if len(c.entries) >= certCacheMax {
		c.entries = map[[32]byte]certCacheEntry{}
	}
	c.entries[key] = certCacheEntry{resp: resp, expires: expires}
	c.mu.Unlock()
	return resp, true, nil
}
