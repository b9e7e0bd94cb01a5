package apiserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/ptr"
)

// What the ServiceAccount admission plugin adds to pods, as upstream's.
const (
	DefaultServiceAccountName = "default"
	// ServiceAccountVolumePrefix starts the name of the token volume
	// (kube-api-access-<5 random characters>).
	ServiceAccountVolumePrefix = "kube-api-access-"
	// ServiceAccountMountPath is where every container finds the token,
	// the cluster CA and its namespace.
	ServiceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// RootCAConfigMap is the ConfigMap every namespace gets with the
	// cluster CA under key ca.crt (controllers/rootcacert).
	RootCAConfigMap = "kube-root-ca.crt"
	// warnOnlyTokenExpiration is upstream's marker lifetime of the
	// automounted token (one hour and 7 seconds).
	warnOnlyTokenExpiration = int64(3607)
)

// serviceAccountAdmission is the ServiceAccount admission plugin of
// kube-apiserver, for pod creation: the pod's service account defaults to
// "default" and must exist; its imagePullSecrets are copied to a pod
// without any; unless automountServiceAccountToken is false (on the pod,
// else on the service account) the kube-api-access projected volume is
// added and mounted read-only in every (init) container that does not
// already mount something at ServiceAccountMountPath.
type serviceAccountAdmission struct {
	*admission.Handler
	client       kubernetes.Interface
	accounts     corelisters.ServiceAccountLister
	generateName func(string) string
	// lookupRetries and retryDelay bound the wait for a default service
	// account that the controller has not created yet.
	lookupRetries int
	retryDelay    func() time.Duration
}

var _ admission.MutationInterface = (*serviceAccountAdmission)(nil)
var _ admission.ValidationInterface = (*serviceAccountAdmission)(nil)

func newServiceAccountAdmission(factory informers.SharedInformerFactory, client kubernetes.Interface) *serviceAccountAdmission {
	inf := factory.Core().V1().ServiceAccounts()
	p := &serviceAccountAdmission{
		Handler: admission.NewHandler(admission.Create), client: client, accounts: inf.Lister(),
		generateName: names.SimpleNameGenerator.GenerateName, lookupRetries: 10,
		retryDelay: func() time.Duration { return time.Duration(100+rand.IntN(100)) * time.Millisecond },
	}
	p.SetReadyFunc(inf.Informer().HasSynced)
	return p
}

// podOf returns the pod of a pod create, nil for anything else.
func podOf(a admission.Attributes) *corev1.Pod {
	if a.GetResource().GroupResource() != corev1.Resource("pods") || a.GetSubresource() != "" {
		return nil
	}
	pod, _ := a.GetObject().(*corev1.Pod)
	return pod
}

// Admit defaults the service account and mounts its token.
func (p *serviceAccountAdmission) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	pod := podOf(a)
	if pod == nil {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil // left as they are; Validate restricts them
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultServiceAccountName
	}
	sa, err := p.serviceAccount(ctx, a)
	if err != nil {
		return err
	}
	if automount(sa, pod) {
		p.mountToken(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = append([]corev1.LocalObjectReference(nil), sa.ImagePullSecrets...)
	}
	return nil // the chain's validating phase runs Validate
}

// Validate checks that the service account exists (mirror pods may name
// none, nor use secrets or tokens).
func (p *serviceAccountAdmission) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	pod := podOf(a)
	if pod == nil {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		if pod.Spec.ServiceAccountName != "" {
			return admission.NewForbidden(a, fmt.Errorf("a mirror pod may not reference service accounts"))
		}
		for _, v := range pod.Spec.Volumes {
			if v.Secret != nil {
				return admission.NewForbidden(a, fmt.Errorf("a mirror pod may not reference secrets"))
			}
			if v.Projected != nil {
				for _, s := range v.Projected.Sources {
					if s.ServiceAccountToken != nil {
						return admission.NewForbidden(a, fmt.Errorf("a mirror pod may not use ServiceAccountToken volume projections"))
					}
				}
			}
		}
		return nil
	}
	_, err := p.serviceAccount(ctx, a)
	return err
}

// serviceAccount finds the pod's service account: in the informer cache,
// then live, retrying for a while for "default", which the service
// account controller creates just after its namespace.
func (p *serviceAccountAdmission) serviceAccount(ctx context.Context, a admission.Attributes) (*corev1.ServiceAccount, error) {
	pod := a.GetObject().(*corev1.Pod)
	ns, name := a.GetNamespace(), pod.Spec.ServiceAccountName
	fail := func(err error) error {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %v", ns, name, err))
	}
	if !p.WaitForReady() {
		return nil, admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request"))
	}
	if sa, err := p.accounts.ServiceAccounts(ns).Get(name); err == nil {
		return sa, nil
	} else if !apierrors.IsNotFound(err) {
		return nil, fail(err)
	}
	attempts := 1
	if name == DefaultServiceAccountName {
		attempts = p.lookupRetries
	}
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, fail(ctx.Err())
			case <-time.After(p.retryDelay()):
			}
		}
		sa, err := p.client.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return sa, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fail(err)
		}
	}
	return nil, fail(apierrors.NewNotFound(corev1.Resource("serviceaccount"), name))
}

// automount: the pod's choice wins, then the service account's; default yes.
func automount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountToken adds the kube-api-access volume (unless the pod has one) and
// its mount to every init container and container without a mount at
// ServiceAccountMountPath. Ephemeral containers are left alone, as upstream.
func (p *serviceAccountAdmission) mountToken(pod *corev1.Pod) {
	volumeName := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, ServiceAccountVolumePrefix) {
			volumeName = v.Name
			break
		}
	}
	hasVolume := volumeName != ""
	if !hasVolume {
		volumeName = p.generateName(ServiceAccountVolumePrefix)
	}
	mount := corev1.VolumeMount{Name: volumeName, ReadOnly: true, MountPath: ServiceAccountMountPath}
	needed := false
	addTo := func(cs []corev1.Container) {
		for i := range cs {
			mounted := false
			for _, m := range cs[i].VolumeMounts {
				if m.MountPath == ServiceAccountMountPath {
					mounted = true
					break
				}
			}
			if !mounted {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
				needed = true
			}
		}
	}
	addTo(pod.Spec.InitContainers)
	addTo(pod.Spec.Containers)
	if needed && !hasVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: volumeName,
			VolumeSource: corev1.VolumeSource{Projected: TokenVolumeSource()}})
	}
}

// TokenVolumeSource is the projected source of the kube-api-access volume:
// a pod-bound token, the cluster CA and the namespace.
func TokenVolumeSource() *corev1.ProjectedVolumeSource {
	return &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To(corev1.ProjectedVolumeSourceDefaultMode),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To(warnOnlyTokenExpiration)}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}
}
