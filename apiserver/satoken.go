package apiserver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	apiserverserviceaccount "k8s.io/apiserver/pkg/authentication/serviceaccount"
	authenticationtokenjwt "k8s.io/apiserver/pkg/authentication/token/jwt"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Service account token defaults, as kube-apiserver is usually configured
// (kubeadm's --service-account-issuer; k3s adds its own name as corral does).
const (
	DefaultServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	corralAudience              = "corral"
)

// DefaultAPIAudiences are the audiences the API server identifies as: a
// token request without audiences gets them, and a token must carry one
// of them to authenticate.
var DefaultAPIAudiences = []string{DefaultServiceAccountIssuer, corralAudience}

// deletedLeeway is how long an object with a deletionTimestamp keeps its
// tokens valid (go-jose's DefaultLeeway, which upstream uses).
const deletedLeeway = time.Minute

// saObjects reads what token requests and token validation check.
// Errors are API errors (NotFound for missing objects).
type saObjects interface {
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Node(ctx context.Context, name string) (*corev1.Node, error)
}

// saClaims are the claims of a bound service account token, as upstream's
// pkg/serviceaccount writes them.
type saClaims struct {
	jwt.RegisteredClaims
	Kubernetes k8sClaims `json:"kubernetes.io"`
}

type k8sClaims struct {
	Namespace      string     `json:"namespace,omitempty"`
	ServiceAccount objectRef  `json:"serviceaccount"`
	Pod            *objectRef `json:"pod,omitempty"`
	Secret         *objectRef `json:"secret,omitempty"`
	Node           *objectRef `json:"node,omitempty"`
}

type objectRef struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// SATokens issues and authenticates service account tokens: RS256 JWTs
// signed with the key kept under <data-dir>/tls.
type SATokens struct {
	key       *rsa.PrivateKey
	keyID     string
	issuer    string
	audiences []string
	clock     clock.PassiveClock
	// objects is set once the storage is built (buildGroups).
	objects saObjects
}

// LoadSATokens reads the PEM RSA signing key from keyFile.
func LoadSATokens(keyFile, issuer string, audiences []string, clk clock.PassiveClock) (*SATokens, error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("service account key %s is not PEM", keyFile)
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		var k any
		if k, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			var ok bool
			if key, ok = k.(*rsa.PrivateKey); !ok {
				err = fmt.Errorf("not an RSA key")
			}
		}
	default:
		err = fmt.Errorf("unexpected PEM block %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("service account key %s: %w", keyFile, err)
	}
	return NewSATokens(key, issuer, audiences, clk)
}

// NewSATokens issues tokens signed by key; issuer and audiences default
// to DefaultServiceAccountIssuer and DefaultAPIAudiences, clk to the real clock.
func NewSATokens(key *rsa.PrivateKey, issuer string, audiences []string, clk clock.PassiveClock) (*SATokens, error) {
	if issuer == "" {
		issuer = DefaultServiceAccountIssuer
	}
	if len(audiences) == 0 {
		audiences = DefaultAPIAudiences
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	// The key ID upstream derives: base64url(sha256(DER public key)).
	sum := sha256.Sum256(der)
	return &SATokens{key: key, keyID: base64.RawURLEncoding.EncodeToString(sum[:]), issuer: issuer,
		audiences: append([]string(nil), audiences...), clock: clk}, nil
}

// Audiences are the API server's own audiences.
func (t *SATokens) Audiences() []string { return append([]string(nil), t.audiences...) }

// tokenBinding is what a token is issued for.
type tokenBinding struct {
	sa     *corev1.ServiceAccount
	pod    *corev1.Pod
	secret *corev1.Secret
	node   *corev1.Node // only with pod: the pod's node
}

// issue signs a token valid from now for expiration.
func (t *SATokens) issue(b tokenBinding, audiences []string, expiration time.Duration) (string, time.Time, error) {
	now := t.clock.Now()
	exp := now.Add(expiration)
	c := saClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   apiserverserviceaccount.MakeUsername(b.sa.Namespace, b.sa.Name),
			Audience:  jwt.ClaimStrings(audiences),
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ID:        string(uuid.NewUUID()),
		},
		Kubernetes: k8sClaims{
			Namespace:      b.sa.Namespace,
			ServiceAccount: objectRef{Name: b.sa.Name, UID: string(b.sa.UID)},
		},
	}
	switch {
	case b.pod != nil:
		c.Kubernetes.Pod = &objectRef{Name: b.pod.Name, UID: string(b.pod.UID)}
		if b.node != nil {
			c.Kubernetes.Node = &objectRef{Name: b.node.Name, UID: string(b.node.UID)}
		}
	case b.secret != nil:
		c.Kubernetes.Secret = &objectRef{Name: b.secret.Name, UID: string(b.secret.UID)}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = t.keyID
	signed, err := tok.SignedString(t.key)
	return signed, exp, err
}

var errInvalidated = errors.New("service account token has been invalidated")

// AuthenticateToken accepts tokens of this issuer whose signature, times,
// audience and bound objects check out. Tokens of other issuers (or not
// JWTs at all) are left to the other authenticators.
func (t *SATokens) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	if !t.mine(token) {
		return nil, false, nil
	}
	var c saClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return &t.key.PublicKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}), jwt.WithIssuer(t.issuer),
		jwt.WithTimeFunc(t.clock.Now), jwt.WithExpirationRequired())
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, false, errors.New("service account token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, false, errors.New("service account token is not valid yet")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return nil, false, errors.New("service account token is issued in the future")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, false, errors.New("service account token signature is invalid")
	default:
		return nil, false, fmt.Errorf("invalid service account token: %w", err)
	}

	// The audiences the request is for (the API server's own unless a
	// TokenReview names others) must meet the token's.
	want, ok := authenticator.AudiencesFrom(ctx)
	if !ok || len(want) == 0 {
		want = t.audiences
	}
	got := authenticator.Audiences(c.Audience).Intersect(want)
	if len(got) == 0 {
		return nil, false, fmt.Errorf("token audiences %q is invalid for the target audiences %q", []string(c.Audience), []string(want))
	}

	info, err := t.validate(ctx, &c)
	if err != nil {
		return nil, false, err
	}
	return &authenticator.Response{User: withAuthenticated(info.UserInfo()), Audiences: got}, true, nil
}

// mine tells whether token is a JWT that names this issuer, without
// checking anything else yet.
func (t *SATokens) mine(token string) bool {
	if strings.Count(token, ".") != 2 {
		return false
	}
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		return false
	}
	return c.Issuer == t.issuer
}

// validate checks that the service account and the bound object still
// exist with the UIDs of the claims, as upstream's validator does.
func (t *SATokens) validate(ctx context.Context, c *saClaims) (*apiserverserviceaccount.ServiceAccountInfo, error) {
	if t.objects == nil {
		return nil, errors.New("service account tokens cannot be validated yet")
	}
	k := c.Kubernetes
	ns := k.Namespace
	if ns == "" || k.ServiceAccount.Name == "" || c.Subject != apiserverserviceaccount.MakeUsername(ns, k.ServiceAccount.Name) {
		return nil, errors.New("service account token claims are incomplete")
	}
	deletedBefore := t.clock.Now().Add(-deletedLeeway)
	sa, err := t.objects.ServiceAccount(ctx, ns, k.ServiceAccount.Name)
	if err != nil {
		klog.V(4).InfoS("Service account of a token", "namespace", ns, "name", k.ServiceAccount.Name, "err", err)
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("serviceaccounts %q not found", k.ServiceAccount.Name)
		}
		return nil, err
	}
	if string(sa.UID) != k.ServiceAccount.UID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, k.ServiceAccount.UID)
	}
	if sa.DeletionTimestamp != nil && sa.DeletionTimestamp.Time.Before(deletedBefore) {
		return nil, fmt.Errorf("service account %s/%s has been deleted", ns, sa.Name)
	}
	info := &apiserverserviceaccount.ServiceAccountInfo{Namespace: ns, Name: sa.Name, UID: string(sa.UID),
		CredentialID: authenticationtokenjwt.CredentialIDForJTI(c.ID)}
	if ref := k.Secret; ref != nil {
		s, err := t.objects.Secret(ctx, ns, ref.Name)
		if err != nil {
			return nil, errInvalidated
		}
		if string(s.UID) != ref.UID {
			return nil, fmt.Errorf("secret UID (%s) does not match service account secret ref claim (%s)", s.UID, ref.UID)
		}
		if s.DeletionTimestamp != nil && s.DeletionTimestamp.Time.Before(deletedBefore) {
			return nil, errInvalidated
		}
	}
	if ref := k.Pod; ref != nil {
		p, err := t.objects.Pod(ctx, ns, ref.Name)
		if err != nil {
			return nil, errInvalidated
		}
		if string(p.UID) != ref.UID {
			return nil, fmt.Errorf("pod UID (%s) does not match service account pod ref claim (%s)", p.UID, ref.UID)
		}
		if p.DeletionTimestamp != nil && p.DeletionTimestamp.Time.Before(deletedBefore) {
			return nil, errInvalidated
		}
		info.PodName, info.PodUID = ref.Name, ref.UID
		if n := k.Node; n != nil {
			info.NodeName, info.NodeUID = n.Name, n.UID
		}
	}
	return info, nil
}

// withAuthenticated adds system:authenticated, as upstream's authenticated
// group adder does for every user of the chain.
func withAuthenticated(u user.Info) user.Info {
	groups := u.GetGroups()
	for _, g := range groups {
		if g == user.AllAuthenticated {
			return u
		}
	}
	return &user.DefaultInfo{Name: u.GetName(), UID: u.GetUID(), Groups: append(append([]string(nil), groups...), user.AllAuthenticated), Extra: u.GetExtra()}
}

// newSATokensFor loads the configured signing key, or makes one in memory.
func newSATokensFor(cfg Config) (*SATokens, error) {
	if cfg.ServiceAccountKeyFile != "" {
		return LoadSATokens(cfg.ServiceAccountKeyFile, "", nil, nil)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return NewSATokens(key, "", nil, nil)
}
