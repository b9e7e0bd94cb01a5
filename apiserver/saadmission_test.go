package apiserver

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func newTestSAAdmission(t *testing.T, objects ...runtime.Object) *serviceAccountAdmission {
	t.Helper()
	client := fake.NewSimpleClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	p := newServiceAccountAdmission(factory, client)
	for _, o := range objects {
		factory.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(o)
	}
	p.SetReadyFunc(func() bool { return true })
	p.generateName = func(prefix string) string { return prefix + "abcde" }
	p.retryDelay = func() time.Duration { return time.Millisecond }
	return p
}

func admitPod(p *serviceAccountAdmission, pod *corev1.Pod) error {
	a := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), pod.Namespace, pod.Name,
		corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, &metav1.CreateOptions{}, false, nil)
	if err := p.Admit(context.Background(), a, nil); err != nil {
		return err
	}
	return p.Validate(context.Background(), a, nil)
}

func TestServiceAccountAdmission(t *testing.T) {
	sa := func(name string, automount *bool, pull ...string) *corev1.ServiceAccount {
		s := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: name}, AutomountServiceAccountToken: automount}
		for _, p := range pull {
			s.ImagePullSecrets = append(s.ImagePullSecrets, corev1.LocalObjectReference{Name: p})
		}
		return s
	}
	pod := func(mut func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "p"}, Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers:     []corev1.Container{{Name: "a"}, {Name: "b"}}}}
		if mut != nil {
			mut(p)
		}
		return p
	}
	const vol = "kube-api-access-abcde"
	cases := []struct {
		name      string
		accounts  []runtime.Object
		pod       *corev1.Pod
		wantErr   string
		wantSA    string
		wantMount []bool // init, a, b mount the token volume
		wantPull  []string
	}{
		{name: "defaults to default and mounts everywhere", accounts: []runtime.Object{sa("default", nil)}, pod: pod(nil),
			wantSA: "default", wantMount: []bool{true, true, true}},
		{name: "missing default account", pod: pod(nil), wantErr: "error looking up service account ns1/default: serviceaccount \"default\" not found"},
		{name: "missing named account", accounts: []runtime.Object{sa("default", nil)},
			pod: pod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "robot" }), wantErr: "error looking up service account ns1/robot"},
		{name: "pod automount false", accounts: []runtime.Object{sa("default", nil)},
			pod: pod(func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr.To(false) }), wantSA: "default", wantMount: []bool{false, false, false}},
		{name: "account automount false", accounts: []runtime.Object{sa("robot", ptr.To(false))},
			pod: pod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "robot" }), wantSA: "robot", wantMount: []bool{false, false, false}},
		{name: "pod true overrides account false", accounts: []runtime.Object{sa("robot", ptr.To(false))},
			pod: pod(func(p *corev1.Pod) {
				p.Spec.ServiceAccountName = "robot"
				p.Spec.AutomountServiceAccountToken = ptr.To(true)
			}), wantSA: "robot", wantMount: []bool{true, true, true}},
		{name: "container with its own mount at the path keeps it", accounts: []runtime.Object{sa("default", nil)},
			pod: pod(func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				p.Spec.Containers[1].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: ServiceAccountMountPath}}
			}), wantSA: "default", wantMount: []bool{true, true, false}},
		{name: "image pull secrets copied", accounts: []runtime.Object{sa("default", nil, "reg")}, pod: pod(nil),
			wantSA: "default", wantMount: []bool{true, true, true}, wantPull: []string{"reg"}},
		{name: "pod's own pull secrets kept", accounts: []runtime.Object{sa("default", nil, "reg")},
			pod:    pod(func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "mine"}} }),
			wantSA: "default", wantMount: []bool{true, true, true}, wantPull: []string{"mine"}},
		{name: "mirror pod naming an account", accounts: []runtime.Object{sa("default", nil)},
			pod: pod(func(p *corev1.Pod) {
				p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
				p.Spec.ServiceAccountName = "default"
			}), wantErr: "a mirror pod may not reference service accounts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestSAAdmission(t, tc.accounts...)
			err := admitPod(p, tc.pod)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !apierrors.IsForbidden(err) {
					t.Fatalf("err %v, want a 403 with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.pod.Spec.ServiceAccountName != tc.wantSA {
				t.Errorf("serviceAccountName %q", tc.pod.Spec.ServiceAccountName)
			}
			cs := append(append([]corev1.Container{}, tc.pod.Spec.InitContainers...), tc.pod.Spec.Containers...)
			any := false
			for i, c := range cs {
				got := false
				for _, m := range c.VolumeMounts {
					if m.Name == vol {
						got = m.MountPath == ServiceAccountMountPath && m.ReadOnly
					}
				}
				if got != tc.wantMount[i] {
					t.Errorf("container %s mounts the token: %v, want %v", c.Name, got, tc.wantMount[i])
				}
				any = any || got
			}
			var v *corev1.Volume
			for i := range tc.pod.Spec.Volumes {
				if tc.pod.Spec.Volumes[i].Name == vol {
					v = &tc.pod.Spec.Volumes[i]
				}
			}
			if (v != nil) != any {
				t.Fatalf("token volume present %v, mounted %v", v != nil, any)
			}
			if v != nil {
				src := v.Projected.Sources
				if len(src) != 3 || src[0].ServiceAccountToken.Path != "token" || *src[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
					src[1].ConfigMap.Name != RootCAConfigMap || src[1].ConfigMap.Items[0].Key != "ca.crt" ||
					src[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" || *v.Projected.DefaultMode != 0o644 {
					t.Errorf("token volume %+v", v.Projected)
				}
			}
			var pull []string
			for _, s := range tc.pod.Spec.ImagePullSecrets {
				pull = append(pull, s.Name)
			}
			if strings.Join(pull, ",") != strings.Join(tc.wantPull, ",") {
				t.Errorf("imagePullSecrets %v, want %v", pull, tc.wantPull)
			}
		})
	}
}

// The default account is looked up again while the controller creates it.
func TestServiceAccountAdmissionWaitsForDefault(t *testing.T) {
	p := newTestSAAdmission(t)
	client := p.client.(*fake.Clientset)
	p.retryDelay = func() time.Duration {
		_, _ = client.CoreV1().ServiceAccounts("ns1").Create(context.Background(),
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "default"}}, metav1.CreateOptions{})
		return time.Millisecond
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}}
	a := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns1", "p",
		corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, &metav1.CreateOptions{}, false, nil)
	if err := p.Admit(context.Background(), a, nil); err != nil {
		t.Fatalf("pod refused although the default account appeared: %v", err)
	}
}
