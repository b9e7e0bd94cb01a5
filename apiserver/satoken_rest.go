package apiserver

import (
	"context"
	"fmt"
	"math"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
)

// Token lifetimes of a TokenRequest: upstream's default and bounds. corral
// neither caps long requests (kube-apiserver has no cap unless
// --service-account-max-token-expiration is set) nor extends the 3607 s
// tokens of the kube-api-access volume to a year: the node agent refreshes
// them, as kubelet does, so they stay short-lived.
const (
	defaultTokenExpiration = int64(3600)
	minTokenExpiration     = int64(600)
)

var tokenRequestGVK = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// TokenREST serves serviceaccounts/token: create a TokenRequest, get a
// signed token for the service account, optionally bound to a pod or a
// secret of its namespace.
type TokenREST struct {
	tokens *SATokens
}

var _ rest.NamedCreater = (*TokenREST)(nil)
var _ rest.GroupVersionKindProvider = (*TokenREST)(nil)

func (r *TokenREST) New() runtime.Object     { return &authenticationv1.TokenRequest{} }
func (r *TokenREST) Destroy()                {}
func (r *TokenREST) NamespaceScoped() bool   { return true }
func (r *TokenREST) GetSingularName() string { return "token" }

// GroupVersionKind tells the installer that serviceaccounts/token speaks
// authentication.k8s.io/v1.
func (r *TokenREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return tokenRequestGVK
}

// PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate keeps the UID
// a client sets (it must then match the service account's).
func (r *TokenREST) PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate() bool { return true }

func (r *TokenREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	req, ok := obj.(*authenticationv1.TokenRequest)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a TokenRequest object: %T", obj))
	}
	namespace, ok := genericapirequest.NamespaceFrom(ctx)
	if !ok || namespace == "" {
		return nil, apierrors.NewBadRequest("namespace is required")
	}
	if req.Name != "" && req.Name != name {
		return nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != namespace {
		return nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	objects := r.tokens.objects
	sa, err := objects.ServiceAccount(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	if req.UID != "" && req.UID != sa.UID {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: tokenRequestGVK.Group, Resource: tokenRequestGVK.Kind}, name,
			fmt.Errorf("the UID in the token request (%s) does not match the UID of the service account (%s)", req.UID, sa.UID))
	}
	out := req.DeepCopy()
	if len(out.Spec.Audiences) == 0 {
		out.Spec.Audiences = r.tokens.Audiences()
	}
	if out.Spec.ExpirationSeconds == nil {
		exp := defaultTokenExpiration
		out.Spec.ExpirationSeconds = &exp
	}
	out.Name, out.Namespace, out.UID = sa.Name, sa.Namespace, sa.UID
	out.Status = authenticationv1.TokenRequestStatus{}
	if errs := validateTokenRequest(out); len(errs) > 0 {
		return nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), "", errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, out.DeepCopyObject()); err != nil {
			return nil, err
		}
	}

	binding := tokenBinding{sa: sa}
	if ref := out.Spec.BoundObjectRef; ref != nil {
		if err := r.bind(ctx, &binding, namespace, name, ref); err != nil {
			return nil, err
		}
	}
	token, exp, err := r.tokens.issue(binding, out.Spec.Audiences, time.Duration(*out.Spec.ExpirationSeconds)*time.Second)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("failed to generate token: %v", err))
	}
	out.CreationTimestamp = metav1.NewTime(exp.Add(-time.Duration(*out.Spec.ExpirationSeconds) * time.Second))
	out.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(exp)}
	return out, nil
}

// bind looks up the object the token is bound to.
func (r *TokenREST) bind(ctx context.Context, b *tokenBinding, namespace, saName string, ref *authenticationv1.BoundObjectReference) error {
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	if ref.Name == "" {
		return apierrors.NewBadRequest("spec.boundObjectRef.name is required")
	}
	objects := r.tokens.objects
	var uid string
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		pod, err := objects.Pod(ctx, namespace, ref.Name)
		if err != nil {
			return err
		}
		if pod.Spec.ServiceAccountName != saName {
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", saName))
		}
		b.pod, uid = pod, string(pod.UID)
		if nodeName := pod.Spec.NodeName; nodeName != "" {
			node, err := objects.Node(ctx, nodeName)
			switch {
			case apierrors.IsNotFound(err):
				node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}
			case err != nil:
				return apierrors.NewInternalError(err)
			}
			b.node = node
		}
	case gvk.Group == "" && gvk.Kind == "Secret":
		secret, err := objects.Secret(ctx, namespace, ref.Name)
		if err != nil {
			return err
		}
		b.secret, uid = secret, string(secret.UID)
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	if ref.UID != "" && string(ref.UID) != uid {
		return apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return nil
}

// validateTokenRequest is upstream's static validation of the spec.
func validateTokenRequest(tr *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "expirationSeconds")
	exp := *tr.Spec.ExpirationSeconds
	if exp < minTokenExpiration {
		errs = append(errs, field.Invalid(p, exp, "may not specify a duration less than 10 minutes"))
	}
	if exp > math.MaxUint32 {
		errs = append(errs, field.TooLong(p, exp, math.MaxUint32))
	}
	for i, a := range tr.Spec.Audiences {
		if a == "" {
			errs = append(errs, field.Invalid(field.NewPath("spec", "audiences").Index(i), a, "must not be empty"))
		}
	}
	return errs
}

// registryObjects reads service accounts, pods, secrets and nodes from
// their stores: from the watch cache first, then from etcd when the cache
// does not have the object yet (a pod created a moment ago).
type registryObjects struct {
	serviceAccounts, pods, secrets, nodes *lazyStore
}

func newRegistryObjects(built map[schema.GroupResource]map[string]rest.Storage) *registryObjects {
	core := func(r string) *lazyStore { return &lazyStore{built: built, gr: schema.GroupResource{Resource: r}} }
	return &registryObjects{serviceAccounts: core("serviceaccounts"), pods: core("pods"), secrets: core("secrets"), nodes: core("nodes")}
}

func (o *registryObjects) get(ctx context.Context, s *lazyStore, namespace, name string) (runtime.Object, error) {
	// The store names the resource of its errors after the request info,
	// which is the serviceaccounts/token request's (or none) otherwise.
	ctx = genericapirequest.WithNamespace(ctx, namespace)
	ctx = genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{IsResourceRequest: true, Verb: "get", APIVersion: "v1",
		Namespace: namespace, Resource: s.gr.Resource, Name: name, Parts: []string{s.gr.Resource, name}})
	obj, err := s.store().Get(ctx, name, &metav1.GetOptions{ResourceVersion: "0"})
	if apierrors.IsNotFound(err) {
		obj, err = s.store().Get(ctx, name, &metav1.GetOptions{})
	}
	return obj, err
}

func (o *registryObjects) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	obj, err := o.get(ctx, o.serviceAccounts, namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.ServiceAccount), nil
}

func (o *registryObjects) Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	obj, err := o.get(ctx, o.pods, namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Pod), nil
}

func (o *registryObjects) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	obj, err := o.get(ctx, o.secrets, namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Secret), nil
}

func (o *registryObjects) Node(ctx context.Context, name string) (*corev1.Node, error) {
	obj, err := o.get(ctx, o.nodes, "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Node), nil
}
