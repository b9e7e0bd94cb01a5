package apiserver

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
)

// reviewREST answers a review object at once; nothing is stored.
type reviewREST struct {
	newFunc    func() runtime.Object
	namespaced bool
	singular   string
	answer     func(ctx context.Context, obj runtime.Object) (runtime.Object, error)
}

func (r *reviewREST) New() runtime.Object     { return r.newFunc() }
func (r *reviewREST) Destroy()                {}
func (r *reviewREST) NamespaceScoped() bool   { return r.namespaced }
func (r *reviewREST) GetSingularName() string { return r.singular }

func (r *reviewREST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	return r.answer(ctx, obj)
}

func userFrom(ctx context.Context) (user.Info, error) {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewBadRequest("no user present on request")
	}
	return u, nil
}

func attributesOf(u user.Info, spec authorizationv1.SubjectAccessReviewSpec) authorizer.AttributesRecord {
	a := authorizer.AttributesRecord{User: u}
	if ra := spec.ResourceAttributes; ra != nil {
		a.Verb, a.Namespace, a.APIGroup, a.APIVersion = ra.Verb, ra.Namespace, ra.Group, ra.Version
		a.Resource, a.Subresource, a.Name, a.ResourceRequest = ra.Resource, ra.Subresource, ra.Name, true
	} else if nra := spec.NonResourceAttributes; nra != nil {
		a.Verb, a.Path = nra.Verb, nra.Path
	}
	return a
}

func decide(ctx context.Context, authz authorizer.Authorizer, a authorizer.AttributesRecord) authorizationv1.SubjectAccessReviewStatus {
	d, reason, err := authz.Authorize(ctx, a)
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: d == authorizer.DecisionAllow, Denied: d == authorizer.DecisionDeny, Reason: reason}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}

func specIsEmpty(ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) error {
	if ra == nil && nra == nil {
		return apierrors.NewBadRequest("exactly one of nonResourceAttributes or resourceAttributes must be specified")
	}
	if ra != nil && nra != nil {
		return apierrors.NewBadRequest("cannot specify both nonResourceAttributes and resourceAttributes")
	}
	return nil
}

// reviewStorage serves the authorization and authentication reviews.
func reviewStorage(authz authorizer.Authorizer, resolver authorizer.RuleResolver, tokens authenticator.Token) map[string]map[string]*reviewREST {
	authorization := map[string]*reviewREST{
		"selfsubjectaccessreviews": {newFunc: func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }, singular: "selfsubjectaccessreview",
			answer: func(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
				r := obj.(*authorizationv1.SelfSubjectAccessReview)
				if err := specIsEmpty(r.Spec.ResourceAttributes, r.Spec.NonResourceAttributes); err != nil {
					return nil, err
				}
				u, err := userFrom(ctx)
				if err != nil {
					return nil, err
				}
				r.Status = decide(ctx, authz, attributesOf(u, authorizationv1.SubjectAccessReviewSpec{
					ResourceAttributes: r.Spec.ResourceAttributes, NonResourceAttributes: r.Spec.NonResourceAttributes}))
				return r, nil
			}},
		"subjectaccessreviews": {newFunc: func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }, singular: "subjectaccessreview",
			answer: func(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
				r := obj.(*authorizationv1.SubjectAccessReview)
				if err := specIsEmpty(r.Spec.ResourceAttributes, r.Spec.NonResourceAttributes); err != nil {
					return nil, err
				}
				if r.Spec.User == "" && len(r.Spec.Groups) == 0 {
					return nil, apierrors.NewBadRequest("at least one of user or group must be specified")
				}
				r.Status = decide(ctx, authz, attributesOf(subjectOf(r.Spec), r.Spec))
				return r, nil
			}},
		"localsubjectaccessreviews": {newFunc: func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} }, namespaced: true, singular: "localsubjectaccessreview",
			answer: func(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
				r := obj.(*authorizationv1.LocalSubjectAccessReview)
				ns, _ := genericapirequest.NamespaceFrom(ctx)
				if r.Spec.ResourceAttributes == nil || r.Spec.ResourceAttributes.Namespace != ns {
					return nil, apierrors.NewBadRequest(fmt.Sprintf("spec.resourceAttributes.namespace must match namespace %q", ns))
				}
				r.Status = decide(ctx, authz, attributesOf(subjectOf(r.Spec), r.Spec))
				return r, nil
			}},
		"selfsubjectrulesreviews": {newFunc: func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} }, singular: "selfsubjectrulesreview",
			answer: func(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
				r := obj.(*authorizationv1.SelfSubjectRulesReview)
				u, err := userFrom(ctx)
				if err != nil {
					return nil, err
				}
				resourceRules, nonResourceRules, incomplete, err := resolver.RulesFor(ctx, u, r.Spec.Namespace)
				r.Status = authorizationv1.SubjectRulesReviewStatus{Incomplete: incomplete}
				if err != nil {
					r.Status.EvaluationError = err.Error()
				}
				for _, rr := range resourceRules {
					r.Status.ResourceRules = append(r.Status.ResourceRules, authorizationv1.ResourceRule{
						Verbs: rr.GetVerbs(), APIGroups: rr.GetAPIGroups(), Resources: rr.GetResources(), ResourceNames: rr.GetResourceNames()})
				}
				for _, nr := range nonResourceRules {
					r.Status.NonResourceRules = append(r.Status.NonResourceRules, authorizationv1.NonResourceRule{
						Verbs: nr.GetVerbs(), NonResourceURLs: nr.GetNonResourceURLs()})
				}
				return r, nil
			}},
	}
	authentication := map[string]*reviewREST{
		"selfsubjectreviews": {newFunc: func() runtime.Object { return &authenticationv1.SelfSubjectReview{} }, singular: "selfsubjectreview",
			answer: func(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
				u, err := userFrom(ctx)
				if err != nil {
					return nil, err
				}
				r := obj.(*authenticationv1.SelfSubjectReview)
				r.Status.UserInfo = userInfoOf(u)
				return r, nil
			}},
		"tokenreviews": {newFunc: func() runtime.Object { return &authenticationv1.TokenReview{} }, singular: "tokenreview",
			answer: func(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
				r := obj.(*authenticationv1.TokenReview)
				if r.Spec.Token == "" {
					return nil, apierrors.NewBadRequest("token is required for TokenReview in authentication")
				}
				if len(r.Spec.Audiences) > 0 {
					// Audience-aware authenticators (service account
					// tokens) check the token against these instead.
					ctx = authenticator.WithAudiences(ctx, r.Spec.Audiences)
				}
				resp, ok, err := tokens.AuthenticateToken(ctx, r.Spec.Token)
				r.Status = authenticationv1.TokenReviewStatus{Authenticated: ok && err == nil}
				if err != nil {
					r.Status.Error = err.Error()
				}
				if r.Status.Authenticated {
					r.Status.User = userInfoOf(resp.User)
					r.Status.Audiences = r.Spec.Audiences
					if len(resp.Audiences) > 0 {
						r.Status.Audiences = resp.Audiences
					}
				}
				return r, nil
			}},
	}
	return map[string]map[string]*reviewREST{"authorization.k8s.io": authorization, "authentication.k8s.io": authentication}
}

func subjectOf(spec authorizationv1.SubjectAccessReviewSpec) user.Info {
	extra := map[string][]string{}
	for k, v := range spec.Extra {
		extra[k] = v
	}
	return &user.DefaultInfo{Name: spec.User, UID: spec.UID, Groups: spec.Groups, Extra: extra}
}

func userInfoOf(u user.Info) authenticationv1.UserInfo {
	info := authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
	if len(u.GetExtra()) > 0 {
		info.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range u.GetExtra() {
			info.Extra[k] = v
		}
	}
	return info
}
