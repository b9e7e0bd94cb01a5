package apiserver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	apiserverserviceaccount "k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeObjects is saObjects over maps keyed by namespace/name.
type fakeObjects struct {
	sas     map[string]*corev1.ServiceAccount
	pods    map[string]*corev1.Pod
	secrets map[string]*corev1.Secret
	nodes   map[string]*corev1.Node
}

func notFound(r, name string) error { return apierrors.NewNotFound(corev1.Resource(r), name) }

func (f *fakeObjects) ServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if o, ok := f.sas[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("serviceaccounts", name)
}
func (f *fakeObjects) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	if o, ok := f.pods[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("pods", name)
}
func (f *fakeObjects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if o, ok := f.secrets[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("secrets", name)
}
func (f *fakeObjects) Node(_ context.Context, name string) (*corev1.Node, error) {
	if o, ok := f.nodes[name]; ok {
		return o, nil
	}
	return nil, notFound("nodes", name)
}

var testKey *rsa.PrivateKey

func init() {
	var err error
	if testKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
}

func newTestTokens(t *testing.T) (*SATokens, *fakeObjects, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	tokens, err := NewSATokens(testKey, "", nil, clk)
	if err != nil {
		t.Fatal(err)
	}
	objs := &fakeObjects{
		sas: map[string]*corev1.ServiceAccount{"ns1/default": {ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "default", UID: "sa-uid"}}},
		pods: map[string]*corev1.Pod{"ns1/web": {ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "web", UID: "pod-uid"},
			Spec: corev1.PodSpec{ServiceAccountName: "default", NodeName: "n1"}}},
		secrets: map[string]*corev1.Secret{},
		nodes:   map[string]*corev1.Node{"n1": {ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}}},
	}
	tokens.objects = objs
	return tokens, objs, clk
}

func podBinding(o *fakeObjects) tokenBinding {
	return tokenBinding{sa: o.sas["ns1/default"], pod: o.pods["ns1/web"], node: o.nodes["n1"]}
}

// claimsOf decodes a JWT's payload without checking it.
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTokenRoundTrip(t *testing.T) {
	tokens, objs, clk := newTestTokens(t)
	tok, exp, err := tokens.issue(podBinding(objs), tokens.Audiences(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(clk.Now().Add(time.Hour)) {
		t.Errorf("expiry %v", exp)
	}
	c := claimsOf(t, tok)
	if c["iss"] != DefaultServiceAccountIssuer || c["sub"] != "system:serviceaccount:ns1:default" {
		t.Errorf("iss/sub = %v/%v", c["iss"], c["sub"])
	}
	if aud, _ := c["aud"].([]any); len(aud) != 2 || aud[0] != DefaultServiceAccountIssuer || aud[1] != "corral" {
		t.Errorf("aud = %v", c["aud"])
	}
	k8s := c["kubernetes.io"].(map[string]any)
	if k8s["namespace"] != "ns1" || k8s["pod"].(map[string]any)["uid"] != "pod-uid" || k8s["serviceaccount"].(map[string]any)["uid"] != "sa-uid" ||
		k8s["node"].(map[string]any)["name"] != "n1" {
		t.Errorf("kubernetes.io claims = %v", k8s)
	}
	if c["jti"] == "" || c["iat"] == nil || c["nbf"] == nil {
		t.Errorf("jti/iat/nbf missing: %v", c)
	}

	clk.Step(30 * time.Minute)
	resp, ok, err := tokens.AuthenticateToken(context.Background(), tok)
	if err != nil || !ok {
		t.Fatalf("valid token refused: %v %v", ok, err)
	}
	u := resp.User
	if u.GetName() != "system:serviceaccount:ns1:default" || u.GetUID() != "sa-uid" {
		t.Errorf("user %s uid %s", u.GetName(), u.GetUID())
	}
	wantGroups := []string{apiserverserviceaccount.AllServiceAccountsGroup, "system:serviceaccounts:ns1", user.AllAuthenticated}
	if strings.Join(u.GetGroups(), ",") != strings.Join(wantGroups, ",") {
		t.Errorf("groups %v, want %v", u.GetGroups(), wantGroups)
	}
	extra := u.GetExtra()
	if extra[apiserverserviceaccount.PodNameKey][0] != "web" || extra[apiserverserviceaccount.PodUIDKey][0] != "pod-uid" ||
		extra[apiserverserviceaccount.NodeNameKey][0] != "n1" || !strings.HasPrefix(extra[user.CredentialIDKey][0], "JTI=") {
		t.Errorf("extra %v", extra)
	}
}

func TestTokenRejected(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(*fakeObjects, *clocktesting.FakeClock)
		ctxAuds authenticator.Audiences
		tamper  func(string) string
		wantErr string
	}{
		{name: "expired", setup: func(_ *fakeObjects, c *clocktesting.FakeClock) { c.Step(time.Hour + time.Second) }, wantErr: "expired"},
		{name: "wrong audience", ctxAuds: authenticator.Audiences{"vault"}, wantErr: "audiences"},
		{name: "deleted pod", setup: func(o *fakeObjects, _ *clocktesting.FakeClock) { delete(o.pods, "ns1/web") }, wantErr: "invalidated"},
		{name: "recreated pod", setup: func(o *fakeObjects, _ *clocktesting.FakeClock) {
			o.pods["ns1/web"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "web", UID: "other"}}
		}, wantErr: "does not match"},
		{name: "pod deleted more than a minute ago", setup: func(o *fakeObjects, c *clocktesting.FakeClock) {
			p := o.pods["ns1/web"].DeepCopy()
			p.DeletionTimestamp = &metav1.Time{Time: c.Now()}
			o.pods["ns1/web"] = p
			c.Step(2 * time.Minute)
		}, wantErr: "invalidated"},
		{name: "deleted service account", setup: func(o *fakeObjects, _ *clocktesting.FakeClock) { delete(o.sas, "ns1/default") }, wantErr: "not found"},
		{name: "recreated service account", setup: func(o *fakeObjects, _ *clocktesting.FakeClock) {
			o.sas["ns1/default"] = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "default", UID: types.UID("new")}}
		}, wantErr: "does not match"},
		{name: "bad signature", tamper: func(s string) string {
			parts := strings.Split(s, ".")
			// Another valid base64url character: flipping a bit could make
			// an invalid one, and an unparsable token is not ours at all.
			sig := []byte(parts[2])
			if sig[5] == 'A' {
				sig[5] = 'B'
			} else {
				sig[5] = 'A'
			}
			return parts[0] + "." + parts[1] + "." + string(sig)
		}, wantErr: "invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tokens, objs, clk := newTestTokens(t)
			tok, _, err := tokens.issue(podBinding(objs), tokens.Audiences(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(objs, clk)
			}
			if tc.tamper != nil {
				tok = tc.tamper(tok)
			}
			ctx := context.Background()
			if tc.ctxAuds != nil {
				ctx = authenticator.WithAudiences(ctx, tc.ctxAuds)
			}
			_, ok, err := tokens.AuthenticateToken(ctx, tok)
			if ok || err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got ok=%v err=%v, want an error with %q", ok, err, tc.wantErr)
			}
		})
	}
}

func TestTokenOfAnotherIssuerIsNotMine(t *testing.T) {
	tokens, objs, _ := newTestTokens(t)
	other, err := NewSATokens(testKey, "https://elsewhere", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	other.objects = objs
	tok, _, err := other.issue(podBinding(objs), []string{"corral"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{tok, "a-static-token", "x.y.z"} {
		if _, ok, err := tokens.AuthenticateToken(context.Background(), s); ok || err != nil {
			t.Errorf("%.20s: ok=%v err=%v, want it left to other authenticators", s, ok, err)
		}
	}
}

func TestAudienceSubset(t *testing.T) {
	tokens, objs, _ := newTestTokens(t)
	tok, _, err := tokens.issue(tokenBinding{sa: objs.sas["ns1/default"]}, []string{"vault", "corral"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, ok, err := tokens.AuthenticateToken(authenticator.WithAudiences(context.Background(), authenticator.Audiences{"vault"}), tok)
	if !ok || err != nil || len(resp.Audiences) != 1 || resp.Audiences[0] != "vault" {
		t.Fatalf("ok=%v err=%v resp=%+v", ok, err, resp)
	}
	if _, ok, _ := tokens.AuthenticateToken(context.Background(), tok); !ok {
		t.Fatal("a token naming the API server's audience corral was refused")
	}
	if _, ok, err := tokens.AuthenticateToken(authenticator.WithAudiences(context.Background(), authenticator.Audiences{"other"}), tok); ok || err == nil {
		t.Fatal("a token for vault and corral was accepted for audience other")
	}
}
