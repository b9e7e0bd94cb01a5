package env

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

func ptr[T any](v T) *T { return &v }

func objects() []runtime.Object {
	return []runtime.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"},
			Data: map[string]string{"HOST": "db", "PORT": "5432", "1BAD": "x", "a=b": "y"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sec"},
			Data: map[string][]byte{"password": []byte("hunter2")}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "my-db"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.7", Ports: []corev1.ServicePort{
				{Port: 5432, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", Port: 9187, Protocol: corev1.ProtocolUDP}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "headless"},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 80}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "elsewhere"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.9", Ports: []corev1.ServicePort{{Port: 80}}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")},
			Addresses:   []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "192.168.1.5"}},
		}},
	}
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-1",
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"team": "blue"}},
		Spec:   corev1.PodSpec{NodeName: "n1", ServiceAccountName: "sa"},
		Status: corev1.PodStatus{PodIP: "10.42.0.3", PodIPs: []corev1.PodIP{{IP: "10.42.0.3"}, {IP: "fd00::3"}}},
	}
}

func get(env []corev1.EnvVar, name string) (string, bool) {
	for _, e := range env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func TestResolve(t *testing.T) {
	src := NewClientSources(fake.NewClientset(objects()...), "n1", 0, nil)
	pod := testPod()
	c := &corev1.Container{
		Name: "app",
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("100Mi")},
		},
		EnvFrom: []corev1.EnvFromSource{
			{Prefix: "DB_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
		},
		Env: []corev1.EnvVar{
			{Name: "URL", Value: "postgres://$(DB_HOST):$(DB_PORT)/$(LATER)"},
			{Name: "LATER", Value: "x"},
			{Name: "ESC", Value: "$$(DB_HOST) costs $$5"},
			{Name: "SVC", Value: "$(MY_DB_SERVICE_HOST)"},
			{Name: "DB_PORT", Value: "6543"}, // overrides envFrom in place
			{Name: "NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "UID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "TEAM", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['team']"}}},
			{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "SA", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}}},
			{Name: "HOST_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "POD_IPS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIPs"}}},
			{Name: "MEM_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}},
			{Name: "CPU_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "CPU_REQ", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu"}}},
			{Name: "CPU_REQ_M", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}}},
			{Name: "MEM_REQ_G", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.memory", Divisor: resource.MustParse("1Gi")}}},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "password"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nope", Optional: ptr(true)}}},
			{Name: "OPT2", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "k", Optional: ptr(true)}}},
			{Name: "USES_PW", Value: "$(PW)!"},
		},
	}
	env, err := Resolve(context.Background(), src, pod, c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"DB_HOST": "db", "DB_PORT": "6543", "DB_1BAD": "x",
		"URL":   "postgres://db:5432/$(LATER)",
		"LATER": "x",
		"ESC":   "$(DB_HOST) costs $5",
		"SVC":   "10.43.0.7",
		"NAME":  "web", "NS": "ns", "UID": "uid-1", "APP": "web", "TEAM": "blue",
		"NODE": "n1", "SA": "sa", "HOST_IP": "192.168.1.5", "POD_IP": "10.42.0.3", "POD_IPS": "10.42.0.3,fd00::3",
		"MEM_MI": "128", "MEM": "134217728", "CPU_LIMIT": "4", "CPU_REQ": "1", "CPU_REQ_M": "250", "MEM_REQ_G": "1",
		"PW": "hunter2", "USES_PW": "hunter2!",
		"KUBERNETES_SERVICE_HOST":       "10.43.0.1",
		"KUBERNETES_SERVICE_PORT":       "443",
		"KUBERNETES_SERVICE_PORT_HTTPS": "443",
		"KUBERNETES_PORT":               "tcp://10.43.0.1:443",
		"KUBERNETES_PORT_443_TCP":       "tcp://10.43.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO": "tcp",
		"KUBERNETES_PORT_443_TCP_PORT":  "443",
		"KUBERNETES_PORT_443_TCP_ADDR":  "10.43.0.1",
		"MY_DB_SERVICE_HOST":            "10.43.0.7",
		"MY_DB_SERVICE_PORT":            "5432",
		"MY_DB_SERVICE_PORT_METRICS":    "9187",
		"MY_DB_PORT":                    "tcp://10.43.0.7:5432",
		"MY_DB_PORT_5432_TCP":           "tcp://10.43.0.7:5432",
		"MY_DB_PORT_5432_TCP_PROTO":     "tcp",
		"MY_DB_PORT_5432_TCP_PORT":      "5432",
		"MY_DB_PORT_5432_TCP_ADDR":      "10.43.0.7",
		"MY_DB_PORT_9187_UDP":           "udp://10.43.0.7:9187",
		"MY_DB_PORT_9187_UDP_PROTO":     "udp",
		"MY_DB_PORT_9187_UDP_PORT":      "9187",
		"MY_DB_PORT_9187_UDP_ADDR":      "10.43.0.7",
	}
	seen := map[string]bool{}
	for _, e := range env {
		if seen[e.Name] {
			t.Errorf("%s appears twice", e.Name)
		}
		seen[e.Name] = true
		w, ok := want[e.Name]
		if !ok {
			t.Errorf("unexpected variable %s=%q", e.Name, e.Value)
			continue
		}
		if e.Value != w {
			t.Errorf("%s = %q, want %q", e.Name, e.Value, w)
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("missing %s", k)
		}
	}
	// Order: envFrom (sorted) first, env in declaration order, services last.
	var names []string
	for _, e := range env {
		names = append(names, e.Name)
	}
	order := strings.Join(names, ",")
	if !strings.HasPrefix(order, "DB_1BAD,DB_HOST,DB_PORT,URL,LATER,ESC,SVC,NAME,") || !strings.HasSuffix(order, ",USES_PW,KUBERNETES_SERVICE_HOST,KUBERNETES_SERVICE_PORT,KUBERNETES_SERVICE_PORT_HTTPS,KUBERNETES_PORT,KUBERNETES_PORT_443_TCP,KUBERNETES_PORT_443_TCP_PROTO,KUBERNETES_PORT_443_TCP_PORT,KUBERNETES_PORT_443_TCP_ADDR,MY_DB_SERVICE_HOST,MY_DB_SERVICE_PORT,MY_DB_SERVICE_PORT_METRICS,MY_DB_PORT,MY_DB_PORT_5432_TCP,MY_DB_PORT_5432_TCP_PROTO,MY_DB_PORT_5432_TCP_PORT,MY_DB_PORT_5432_TCP_ADDR,MY_DB_PORT_9187_UDP,MY_DB_PORT_9187_UDP_PROTO,MY_DB_PORT_9187_UDP_PORT,MY_DB_PORT_9187_UDP_ADDR") {
		t.Errorf("order: %s", order)
	}
}

func TestResolveInvalidEnvFromKeySkipped(t *testing.T) {
	src := NewClientSources(fake.NewClientset(objects()...), "n1", 0, nil)
	c := &corev1.Container{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}
	pod := testPod()
	pod.Spec.EnableServiceLinks = ptr(false)
	env, err := Resolve(context.Background(), src, pod, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := get(env, "a=b"); ok {
		t.Error("key with '=' was not skipped")
	}
	if v, _ := get(env, "1BAD"); v != "x" {
		t.Errorf("1BAD = %q: relaxed names are valid", v)
	}
}

func TestServiceLinksDisabled(t *testing.T) {
	src := NewClientSources(fake.NewClientset(objects()...), "n1", 0, nil)
	pod := testPod()
	pod.Spec.EnableServiceLinks = ptr(false)
	env, err := Resolve(context.Background(), src, pod, &corev1.Container{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := get(env, "MY_DB_SERVICE_HOST"); ok {
		t.Error("namespace services linked although enableServiceLinks is false")
	}
	if v, _ := get(env, "KUBERNETES_SERVICE_HOST"); v != "10.43.0.1" {
		t.Errorf("KUBERNETES_SERVICE_HOST = %q; the master service is always linked", v)
	}
	if len(env) != 8 {
		t.Errorf("got %d variables, want the 8 of the kubernetes service: %v", len(env), env)
	}
}

func TestResolveMissingReferences(t *testing.T) {
	src := NewClientSources(fake.NewClientset(objects()...), "n1", 0, nil)
	cases := map[string]corev1.EnvVar{
		"couldn't find key nope in ConfigMap ns/cfg":  {Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nope", Optional: ptr(false)}}},
		`secrets "gone" not found`:                    {Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "k"}}},
		"couldn't find key nope in Secret ns/sec":     {Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "nope"}}},
		`configmaps "gone" not found`:                 {Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "k"}}},
		`unsupported fieldPath "spec.bogus"`:          {Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.bogus"}}},
		`unsupported container resource "limits.gpu"`: {Name: "X", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.gpu"}}},
	}
	for want, ev := range cases {
		_, err := Resolve(context.Background(), src, testPod(), &corev1.Container{Env: []corev1.EnvVar{ev}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to contain %q", err, want)
		}
	}
	_, err := Resolve(context.Background(), src, testPod(), &corev1.Container{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}}}})
	if !apierrors.IsNotFound(err) {
		t.Errorf("envFrom of a missing non-optional configmap: %v, want NotFound", err)
	}
}

func TestClientSourcesCache(t *testing.T) {
	client := fake.NewClientset(objects()...)
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	src := NewClientSources(client, "n1", 10*time.Second, clk)
	pod := testPod()
	c := &corev1.Container{Env: []corev1.EnvVar{
		{Name: "H", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "HOST"}}},
		{Name: "M", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Key: "k", Optional: ptr(true)}}},
	}}
	countGets := func() int {
		n := 0
		for _, a := range client.Actions() {
			if a.GetVerb() == "get" || a.GetVerb() == "list" {
				n++
			}
		}
		return n
	}
	done := make(chan error)
	for range 100 {
		go func() {
			_, err := Resolve(context.Background(), src, pod, c)
			done <- err
		}()
	}
	for range 100 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// configmap, secret (absent), kubernetes service, namespace list.
	if n := countGets(); n != 4 {
		t.Errorf("100 resolves made %d requests, want 4", n)
	}
	cm, _ := client.CoreV1().ConfigMaps("ns").Get(context.Background(), "cfg", metav1.GetOptions{})
	cm.Data["HOST"] = "db2"
	if _, err := client.CoreV1().ConfigMaps("ns").Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	env, _ := Resolve(context.Background(), src, pod, c)
	if v, _ := get(env, "H"); v != "db" {
		t.Errorf("within the TTL H = %q, want the cached db", v)
	}
	clk.SetTime(clk.Now().Add(11 * time.Second))
	env, _ = Resolve(context.Background(), src, pod, c)
	if v, _ := get(env, "H"); v != "db2" {
		t.Errorf("after the TTL H = %q, want db2", v)
	}
}

func TestWithIPs(t *testing.T) {
	pod := testPod()
	pod.Status = corev1.PodStatus{}
	got := WithIPs(pod, []string{"10.42.0.9"}, []string{"192.168.1.5"})
	if got == pod || pod.Status.PodIP != "" {
		t.Fatal("WithIPs modified its argument")
	}
	if v, _ := FieldValue(got, "status.podIPs"); v != "10.42.0.9" {
		t.Errorf("podIPs = %q", v)
	}
	if v, _ := FieldValue(got, "status.hostIPs"); v != "192.168.1.5" {
		t.Errorf("hostIPs = %q", v)
	}
	// A recreated sandbox's IP wins over the one in the status.
	got = WithIPs(got, []string{"10.42.0.10"}, nil)
	if v, _ := FieldValue(got, "status.podIP"); v != "10.42.0.10" {
		t.Errorf("after a new sandbox podIP = %q", v)
	}
	if same := WithIPs(got, []string{"10.42.0.10"}, nil); same != got {
		t.Error("unchanged IPs copied the pod")
	}
	if v, _ := FieldValue(testPod(), "metadata.labels"); v != "app=\"web\"\n" {
		t.Errorf("labels = %q", v)
	}
}
