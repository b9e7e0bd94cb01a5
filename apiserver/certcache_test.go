package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

type countingAuth struct {
	calls int
	ok    bool
}

func (c *countingAuth) AuthenticateRequest(*http.Request) (*authenticator.Response, bool, error) {
	c.calls++
	if !c.ok {
		return nil, false, nil
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: "admin"}}, true, nil
}

func TestCertCache(t *testing.T) {
	now := time.Unix(1000, 0)
	leaf := &x509.Certificate{Raw: []byte("leaf"), NotAfter: now.Add(time.Minute)}
	req := &http.Request{TLS: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}}

	delegate := &countingAuth{ok: true}
	c := newCachedCertAuthenticator(delegate)
	c.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if resp, ok, err := c.AuthenticateRequest(req); !ok || err != nil || resp.User.GetName() != "admin" {
			t.Fatalf("request %d: %v %v", i, ok, err)
		}
	}
	if delegate.calls != 1 {
		t.Fatalf("delegate called %d times, want 1", delegate.calls)
	}
	// Past the certificate's expiry the chain is verified again.
	now = now.Add(2 * time.Minute)
	c.AuthenticateRequest(req)
	if delegate.calls != 2 {
		t.Fatalf("expired entry reused")
	}
	// Failures are never cached; no certificate is no answer.
	bad := &countingAuth{}
	c = newCachedCertAuthenticator(bad)
	c.AuthenticateRequest(req)
	c.AuthenticateRequest(req)
	if bad.calls != 2 {
		t.Fatal("a failed verification was cached")
	}
	if _, ok, _ := c.AuthenticateRequest(&http.Request{}); ok {
		t.Fatal("request without TLS authenticated")
	}
}
