package volume

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Token refresh, as kubelet's token manager: a token is renewed once 80 %
// of its lifetime has passed, or after 24 hours, less a jitter of up to
// 10 s so that a node's pods do not all ask at once. The pod resync
// (a minute) makes the refresh happen.
const (
	tokenMaxTTL    = 24 * time.Hour
	tokenMaxJitter = 10 * time.Second
)

// defaultTokenExpiration is the API default of a projection without
// expirationSeconds.
const defaultTokenExpiration = int64(3600)

// tokenKey is one token a pod needs: its service account, audience and
// lifetime (two projections asking for the same get the same token).
type tokenKey struct {
	serviceAccount, audience string
	expirationSeconds        int64
}

// tokenCache requests and keeps service account tokens for the pods of a
// node through the TokenRequest API, bound to the pod.
type tokenCache struct {
	mu     sync.Mutex
	tokens map[types.UID]map[tokenKey]*authenticationv1.TokenRequest
}

// get returns a current token for the projection, asking the API server
// for a new one when there is none yet or it is due for refresh.
func (c *tokenCache) get(ctx context.Context, client kubernetes.Interface, clk clock.PassiveClock, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	if client == nil {
		return "", fmt.Errorf("the volume manager has no API client to request tokens")
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	key := tokenKey{serviceAccount: sa, audience: p.Audience, expirationSeconds: defaultTokenExpiration}
	if p.ExpirationSeconds != nil {
		key.expirationSeconds = *p.ExpirationSeconds
	}
	c.mu.Lock()
	tr := c.tokens[pod.UID][key]
	c.mu.Unlock()
	if tr != nil && !needsRefresh(tr, clk.Now()) {
		return tr.Status.Token, nil
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &key.expirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	got, err := client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		if tr != nil && clk.Now().Before(tr.Status.ExpirationTimestamp.Time) {
			return tr.Status.Token, nil // keep the still valid one; the next sync tries again
		}
		return "", fmt.Errorf("requesting a token for service account %s/%s: %w", pod.Namespace, sa, err)
	}
	if got.Spec.ExpirationSeconds == nil {
		got.Spec.ExpirationSeconds = &key.expirationSeconds
	}
	c.mu.Lock()
	if c.tokens == nil {
		c.tokens = map[types.UID]map[tokenKey]*authenticationv1.TokenRequest{}
	}
	if c.tokens[pod.UID] == nil {
		c.tokens[pod.UID] = map[tokenKey]*authenticationv1.TokenRequest{}
	}
	c.tokens[pod.UID][key] = got
	c.mu.Unlock()
	return got.Status.Token, nil
}

// needsRefresh is kubelet's rule: past 80 % of the lifetime, or older
// than 24 h, each less a random jitter.
func needsRefresh(tr *authenticationv1.TokenRequest, now time.Time) bool {
	exp := tr.Status.ExpirationTimestamp.Time
	ttl := time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
	issued := exp.Add(-ttl)
	jitter := time.Duration(rand.Int64N(int64(tokenMaxJitter)))
	return now.After(issued.Add(tokenMaxTTL-jitter)) || now.After(exp.Add(-ttl/5-jitter))
}

// forget drops the tokens of a pod that is gone.
func (c *tokenCache) forget(uid types.UID) {
	c.mu.Lock()
	delete(c.tokens, uid)
	c.mu.Unlock()
}

// token is the Manager's tokenSource: tokens requested with its Client.
func (m *Manager) token(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	return m.tokens.get(ctx, m.Client, m.now(), pod, p)
}
