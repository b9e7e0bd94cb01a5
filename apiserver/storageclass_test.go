package apiserver

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestDefaultStorageClass(t *testing.T) {
	at := func(sec int64) metav1.Time { return metav1.NewTime(time.Unix(sec, 0)) }
	class := func(name string, def bool, created int64) *storagev1.StorageClass {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: at(created)}, Provisioner: "x"}
		if def {
			sc.Annotations = map[string]string{AnnDefaultStorageClass: "true"}
		}
		return sc
	}
	for _, tc := range []struct {
		name    string
		classes []*storagev1.StorageClass
		claim   *corev1.PersistentVolumeClaim
		want    *string
	}{
		{"no class gets the default", []*storagev1.StorageClass{class("plain", false, 1), class("local-path", true, 1)},
			&corev1.PersistentVolumeClaim{}, ptr.To("local-path")},
		{"explicit empty class stays empty", []*storagev1.StorageClass{class("local-path", true, 1)},
			&corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("")}}, ptr.To("")},
		{"explicit class stays", []*storagev1.StorageClass{class("local-path", true, 1)},
			&corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("fast")}}, ptr.To("fast")},
		{"beta annotation counts as a choice", []*storagev1.StorageClass{class("local-path", true, 1)},
			&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{annBetaStorageClass: "old"}}}, nil},
		{"no default leaves it unset", []*storagev1.StorageClass{class("plain", false, 1)}, &corev1.PersistentVolumeClaim{}, nil},
		{"newest default wins", []*storagev1.StorageClass{class("old", true, 1), class("new", true, 5), class("b", true, 3)},
			&corev1.PersistentVolumeClaim{}, ptr.To("new")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
			p := newDefaultStorageClass(factory)
			for _, c := range tc.classes {
				if err := factory.Storage().V1().StorageClasses().Informer().GetIndexer().Add(c); err != nil {
					t.Fatal(err)
				}
			}
			p.SetReadyFunc(func() bool { return true })
			claim := tc.claim.DeepCopy()
			claim.Name, claim.Namespace = "data", "default"
			attrs := admission.NewAttributesRecord(claim, nil, corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), "default", "data",
				corev1.Resource("persistentvolumeclaims").WithVersion("v1"), "", admission.Create, &metav1.CreateOptions{}, false, nil)
			if err := p.Admit(context.Background(), attrs, nil); err != nil {
				t.Fatal(err)
			}
			if got := claim.Spec.StorageClassName; (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Fatalf("storageClassName = %v, want %v", ptr.Deref(got, "<nil>"), ptr.Deref(tc.want, "<nil>"))
			}
		})
	}
}
