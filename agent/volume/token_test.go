package volume

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
)

// tokenServer answers TokenRequests with numbered tokens and records them.
type tokenServer struct {
	f        *fixture
	requests []*authenticationv1.TokenRequest
	names    []string
	fail     bool
}

func newTokenServer(f *fixture) *tokenServer {
	s := &tokenServer{f: f}
	f.client.PrependReactor("create", "serviceaccounts", func(a core.Action) (bool, k8sruntime.Object, error) {
		ca := a.(core.CreateAction)
		if ca.GetSubresource() != "token" {
			return false, nil, nil
		}
		if s.fail {
			return true, nil, fmt.Errorf("API server unreachable")
		}
		req := ca.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		s.requests = append(s.requests, req)
		s.names = append(s.names, a.(core.CreateActionImpl).Name)
		out := req.DeepCopy()
		out.Status = authenticationv1.TokenRequestStatus{Token: fmt.Sprintf("token-%d", len(s.requests)),
			ExpirationTimestamp: metav1.NewTime(f.clock.Now().Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second))}
		return true, out, nil
	})
	return s
}

func TestServiceAccountTokenProjection(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": "PEM"}})
	srv := newTokenServer(f)
	p := pod(corev1.Volume{Name: "kube-api-access-x", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr(int32(0o644)),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}},
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "vault", Audience: "vault", ExpirationSeconds: ptr(int64(600))}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
		}}}})
	p.Spec.ServiceAccountName = "robot"
	dir := f.m.volumeDir(p.UID, pluginProjected, "kube-api-access-x")
	if err := f.m.SetUp(ctx, p); err != nil {
		t.Fatal(err)
	}
	if len(srv.requests) != 2 {
		t.Fatalf("%d token requests, want 2", len(srv.requests))
	}
	for i, r := range srv.requests {
		ref := r.Spec.BoundObjectRef
		if srv.names[i] != "robot" || ref == nil || ref.Kind != "Pod" || ref.Name != "web" || ref.UID != p.UID {
			t.Errorf("request %d for %s bound to %+v", i, srv.names[i], ref)
		}
	}
	if len(srv.requests[0].Spec.Audiences) != 0 || *srv.requests[0].Spec.ExpirationSeconds != 3607 {
		t.Errorf("default audience request %+v", srv.requests[0].Spec)
	}
	if a := srv.requests[1].Spec.Audiences; len(a) != 1 || a[0] != "vault" {
		t.Errorf("vault request audiences %v", a)
	}
	token, vault := readFile(t, filepath.Join(dir, "token")), readFile(t, filepath.Join(dir, "vault"))
	if !strings.HasPrefix(token, "token-") || !strings.HasPrefix(vault, "token-") || token == vault || readFile(t, filepath.Join(dir, "ca.crt")) != "PEM" {
		t.Fatalf("files token=%q vault=%q", token, vault)
	}
	if m := mode(t, filepath.Join(dir, "token")); m != 0o644 {
		t.Errorf("token mode %v", m)
	}

	// A sync soon after asks for nothing.
	f.clock.SetTime(f.clock.Now().Add(time.Minute))
	if err := f.m.SetUp(ctx, p); err != nil || len(srv.requests) != 2 {
		t.Fatalf("resync asked again: %d requests, %v", len(srv.requests), err)
	}
	// Past 80 % of the 600 s token, only that one is renewed.
	f.clock.SetTime(f.clock.Now().Add(7 * time.Minute))
	if err := f.m.SetUp(ctx, p); err != nil || len(srv.requests) != 3 || srv.requests[2].Spec.Audiences[0] != "vault" {
		t.Fatalf("after 8 min: %d requests, %v", len(srv.requests), err)
	}
	if got := readFile(t, filepath.Join(dir, "vault")); got != "token-3" || readFile(t, filepath.Join(dir, "token")) != token {
		t.Errorf("after refresh vault=%q token=%q", got, readFile(t, filepath.Join(dir, "token")))
	}
	// A failing API keeps the still valid token.
	srv.fail = true
	f.clock.SetTime(f.clock.Now().Add(50 * time.Minute))
	if err := f.m.SetUp(ctx, p); err == nil || !strings.Contains(err.Error(), "vault") {
		t.Errorf("expired vault token with the API down: %v", err)
	}
	if readFile(t, filepath.Join(dir, "token")) != token {
		t.Error("the still valid token was replaced")
	}

	// Torn down pods forget their tokens.
	srv.fail = false
	if err := f.m.TearDown(p.UID); err != nil {
		t.Fatal(err)
	}
	if len(f.m.tokens.tokens) != 0 {
		t.Errorf("tokens kept after teardown: %v", f.m.tokens.tokens)
	}
}

func TestNeedsRefresh(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := func(issuedAgo, ttl time.Duration) *authenticationv1.TokenRequest {
		s := int64(ttl / time.Second)
		return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &s},
			Status: authenticationv1.TokenRequestStatus{ExpirationTimestamp: metav1.NewTime(now.Add(-issuedAgo).Add(ttl))}}
	}
	cases := []struct {
		issuedAgo, ttl time.Duration
		want           bool
	}{
		{time.Minute, time.Hour, false},
		{47 * time.Minute, time.Hour, false},
		{49 * time.Minute, time.Hour, true},
		{2 * time.Hour, time.Hour, true},
		{23 * time.Hour, 48 * time.Hour, false},
		{25 * time.Hour, 48 * time.Hour, true},
	}
	for _, c := range cases {
		if got := needsRefresh(tr(c.issuedAgo, c.ttl), now); got != c.want {
			t.Errorf("issued %v ago, ttl %v: refresh %v, want %v", c.issuedAgo, c.ttl, got, c.want)
		}
	}
}
