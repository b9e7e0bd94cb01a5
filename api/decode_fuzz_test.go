package api

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// FuzzDecode feeds arbitrary bytes to every decoder the API server uses
// for request bodies: it must return an error, never panic.
func FuzzDecode(f *testing.F) {
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	for _, info := range Codecs.SupportedMediaTypes() {
		enc := Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion)
		data, err := runtime.Encode(enc, pod)
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":"x"}}`))
	f.Add([]byte("apiVersion: v1\nkind: Service\nspec:\n  ports: [{port: 99999}]\n"))
	f.Add([]byte("k8s\x00\x0a\x02v1\x12\x03Pod\x1a\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, info := range Codecs.SupportedMediaTypes() {
			dec := Codecs.DecoderToVersion(info.Serializer, runtime.InternalGroupVersioner)
			_, _, _ = dec.Decode(data, nil, nil)
			if info.StrictSerializer != nil {
				_, _, _ = Codecs.DecoderToVersion(info.StrictSerializer, runtime.InternalGroupVersioner).Decode(data, nil, nil)
			}
		}
	})
}

func TestInternalAliasesRoundTrip(t *testing.T) {
	// Every served kind decodes to its own Go type and encodes back in its
	// external version, with no conversion in between.
	for _, r := range Resources {
		obj := r.New()
		kinds, _, err := Scheme.ObjectKinds(obj)
		if err != nil {
			t.Fatalf("%s: %v", r.GroupResource(), err)
		}
		found := false
		for _, k := range kinds {
			if k == r.GroupVersionKind() {
				found = true
			}
		}
		if !found && r.StorageOf == nil {
			t.Errorf("%s: kinds %v lack %v", r.GroupResource(), kinds, r.GroupVersionKind())
		}
	}
}
