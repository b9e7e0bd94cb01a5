package apiserver

import (
	"context"
	"crypto/subtle"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Groups that corral's credentials carry.
const (
	// JoinGroup is the group of clients holding the cluster join token.
	JoinGroup = "system:corral:joiners"
)

// TokenAuthenticator accepts the static bearer tokens corral issues: the
// admin token of the kubeconfig and the cluster join token.
type TokenAuthenticator struct {
	tokens map[string]*user.DefaultInfo
}

// NewTokenAuthenticator knows the admin and join tokens (either may be empty).
func NewTokenAuthenticator(adminToken, joinToken string) *TokenAuthenticator {
	t := &TokenAuthenticator{tokens: map[string]*user.DefaultInfo{}}
	if adminToken != "" {
		t.tokens[adminToken] = &user.DefaultInfo{Name: "admin", UID: "admin", Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated}}
	}
	if joinToken != "" {
		t.tokens[joinToken] = &user.DefaultInfo{Name: "system:corral:joiner", Groups: []string{JoinGroup, user.AllAuthenticated}}
	}
	return t
}

// AuthenticateToken compares in constant time against every known token.
func (t *TokenAuthenticator) AuthenticateToken(_ context.Context, token string) (*authenticator.Response, bool, error) {
	var found *user.DefaultInfo
	for known, u := range t.tokens {
		if subtle.ConstantTimeCompare([]byte(known), []byte(token)) == 1 {
			found = u
		}
	}
	if found == nil {
		return nil, false, nil
	}
	return &authenticator.Response{User: found}, true, nil
}

// Authorizer allows system:masters everything. Until per-node credentials
// and RBAC enforcement exist, holders of the join token are allowed too
// (agents need to register nodes and report pods). Everyone else may only
// read discovery and ask about themselves (RBAC enforcement is issue F).
type Authorizer struct{}

func privileged(u user.Info) bool {
	if u == nil {
		return false
	}
	for _, g := range u.GetGroups() {
		if g == user.SystemPrivilegedGroup || g == JoinGroup {
			return true
		}
	}
	return false
}

func (Authorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if privileged(a.GetUser()) {
		return authorizer.DecisionAllow, "", nil
	}
	if !a.IsResourceRequest() && publicPath(a.GetPath()) {
		return authorizer.DecisionAllow, "", nil
	}
	if a.IsResourceRequest() && selfReview(a) {
		return authorizer.DecisionAllow, "", nil
	}
	// No reason, as upstream RBAC gives none for a plain denial.
	return authorizer.DecisionNoOpinion, "", nil
}

// publicPath lists what upstream's system:public-info-viewer and
// system:discovery roles grant to every authenticated user.
func publicPath(p string) bool {
	switch p {
	case "/healthz", "/livez", "/readyz", "/version", "/version/", "/api", "/api/", "/apis", "/apis/", "/openapi/v2", "/openapi/v3", "/openapi/v3/":
		return true
	}
	return false
}

// selfReview matches what upstream's system:basic-user role grants every
// authenticated user: asking what they themselves may do and who they are.
func selfReview(a authorizer.Attributes) bool {
	if a.GetVerb() != "create" {
		return false
	}
	switch a.GetAPIGroup() + "/" + a.GetResource() {
	case "authorization.k8s.io/selfsubjectaccessreviews", "authorization.k8s.io/selfsubjectrulesreviews",
		"authentication.k8s.io/selfsubjectreviews":
		return true
	}
	return false
}

// RulesFor lists what a user may do (SelfSubjectRulesReview).
func (Authorizer) RulesFor(_ context.Context, u user.Info, _ string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	if privileged(u) {
		return []authorizer.ResourceRuleInfo{&authorizer.DefaultResourceRuleInfo{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}},
			[]authorizer.NonResourceRuleInfo{&authorizer.DefaultNonResourceRuleInfo{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}}, false, nil
	}
	selfReviews := []authorizer.ResourceRuleInfo{
		&authorizer.DefaultResourceRuleInfo{Verbs: []string{"create"}, APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"}},
		&authorizer.DefaultResourceRuleInfo{Verbs: []string{"create"}, APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"selfsubjectreviews"}},
	}
	return selfReviews, []authorizer.NonResourceRuleInfo{&authorizer.DefaultNonResourceRuleInfo{Verbs: []string{"get"},
		NonResourceURLs: []string{"/healthz", "/livez", "/readyz", "/version", "/version/", "/api", "/api/*", "/apis", "/apis/*", "/openapi/*"}}}, false, nil
}

func (z Authorizer) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(z.Authorize(ctx, a))
}

func (Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}
