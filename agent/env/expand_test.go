package env

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpand(t *testing.T) {
	vars := MapLookup(map[string]string{"A": "a", "B": "b-$(A)", "EMPTY": ""})
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"$(A)", "a"},
		{"x$(A)y$(A)z", "xayaz"},
		{"$(B)", "b-$(A)"}, // values are not expanded twice
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$a"},
		{"$$", "$"},
		{"$", "$"},
		{"a$", "a$"},
		{"$A", "$A"},
		{"$(A", "$(A"},
		{"$(A$(A)", "$(A$(A)"}, // the name runs to the first ')'
		{"$()", "$()"},
		{"$(EMPTY)x", "x"},
		{"$(A)$(", "a$("},
		{"$($(A))", "$($(A))"},
	}
	for _, c := range cases {
		if got := Expand(c.in, vars); got != c.want {
			t.Errorf("Expand(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestExpandArgs(t *testing.T) {
	env := []corev1.EnvVar{{Name: "MSG", Value: "hi"}}
	got := ExpandArgs([]string{"echo", "$(MSG)", "$$(MSG)", "$(NONE)"}, env)
	want := []string{"echo", "hi", "$(MSG)", "$(NONE)"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("arg %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestHostname(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b"
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: long, Namespace: "ns"}}
	if h, _ := Hostname(pod, "node", "cluster.local"); h != strings.Repeat("a", 62) {
		t.Errorf("long name -> %q", h)
	}
	pod.Spec.Hostname, pod.Spec.Subdomain, pod.Spec.SetHostnameAsFQDN = "web-0", "web", ptr(true)
	if h, err := Hostname(pod, "node", "cluster.local"); err != nil || h != "web-0.web.ns.svc.cluster.local" {
		t.Errorf("fqdn -> %q, %v", h, err)
	}
	pod.Spec.Subdomain = strings.Repeat("s", 50)
	if _, err := Hostname(pod, "node", "cluster.local"); err == nil {
		t.Error("over-long FQDN accepted")
	}
	pod.Spec.HostNetwork = true
	if h, _ := Hostname(pod, "node", "cluster.local"); h != "node" {
		t.Errorf("hostNetwork -> %q", h)
	}
}
