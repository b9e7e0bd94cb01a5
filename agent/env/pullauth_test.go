package env

import (
	"context"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"corral/agent/runtime"
)

func TestPullAuth(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("bob:s3cret"))
	client := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "json"}, Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"registry.example:5000":{"auth":"` + auth + `"},"ghcr.io":{"username":"al","password":"pw"}}}`)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "legacy"}, Type: corev1.SecretTypeDockercfg,
			Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{"https://index.docker.io/v1/":{"username":"u","password":"p"}}`)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "opaque"}, Data: map[string][]byte{"x": []byte("y")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "broken"}, Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{not json`)}},
	)
	src := NewClientSources(client, "n1", 0, nil)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: corev1.PodSpec{
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "json"}, {Name: "missing"}, {Name: "opaque"}, {Name: "legacy"}},
	}}
	got, err := PullAuth(context.Background(), src, pod)
	if err != nil {
		t.Fatal(err)
	}
	want := []runtime.RegistryAuth{
		{Server: "ghcr.io", Username: "al", Password: "pw"},
		{Server: "registry.example:5000", Username: "bob", Password: "s3cret", Auth: auth},
		{Server: "https://index.docker.io/v1/", Username: "u", Password: "p"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PullAuth = %+v\nwant %+v", got, want)
	}
	pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "broken"}}
	if _, err := PullAuth(context.Background(), src, pod); err == nil || !strings.Contains(err.Error(), "ns/broken") {
		t.Errorf("malformed secret: %v", err)
	}
}
