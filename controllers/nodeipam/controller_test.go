package nodeipam

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

func node(name, cidr string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: cidr}}
}

type fixture struct {
	client *fake.Clientset
	inf    informers.SharedInformerFactory
	c      *Controller
	events *record.FakeRecorder
}

func newFixture(t *testing.T, cluster string, mask int, nodes ...*corev1.Node) *fixture {
	t.Helper()
	var objs []runtime.Object
	for _, n := range nodes {
		objs = append(objs, n)
	}
	f := &fixture{client: fake.NewClientset(objs...)}
	f.inf = informers.NewSharedInformerFactory(f.client, 0)
	_, cidr, err := net.ParseCIDR(cluster)
	if err != nil {
		t.Fatal(err)
	}
	if f.c, err = NewController(f.client, f.inf.Core().V1().Nodes(), cidr, mask); err != nil {
		t.Fatal(err)
	}
	f.events = record.NewFakeRecorder(100)
	f.c.recorder = f.events
	for _, n := range nodes {
		_ = f.inf.Core().V1().Nodes().Informer().GetIndexer().Add(n)
	}
	if err := f.c.rebuild(); err != nil {
		t.Fatal(err)
	}
	return f
}

// sync runs one sync and returns the pod CIDR it patched, if any.
func (f *fixture) sync(t *testing.T, name string) (string, error) {
	t.Helper()
	f.client.ClearActions()
	err := f.c.sync(context.Background(), name)
	for _, a := range f.client.Actions() {
		if p, ok := a.(core.PatchAction); ok {
			var body struct {
				Spec struct {
					PodCIDR  string   `json:"podCIDR"`
					PodCIDRs []string `json:"podCIDRs"`
				} `json:"spec"`
			}
			if err := json.Unmarshal(p.GetPatch(), &body); err != nil {
				t.Fatal(err)
			}
			if len(body.Spec.PodCIDRs) != 1 || body.Spec.PodCIDRs[0] != body.Spec.PodCIDR {
				t.Fatalf("podCIDRs %v with podCIDR %s", body.Spec.PodCIDRs, body.Spec.PodCIDR)
			}
			return body.Spec.PodCIDR, err
		}
	}
	return "", err
}

func TestAssignsDistinctCIDRs(t *testing.T) {
	f := newFixture(t, "10.42.0.0/16", 24, node("a", ""), node("b", ""), node("c", ""))
	seen := map[string]bool{}
	for i, n := range []string{"a", "b", "c"} {
		got, err := f.sync(t, n)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"}[i]
		if got != want || seen[got] {
			t.Fatalf("%s got %q, want %s", n, got, want)
		}
		seen[got] = true
	}
	// A requeued node keeps its block rather than taking another.
	if got, _ := f.sync(t, "a"); got != "10.42.0.0/24" {
		t.Fatalf("resync of a patched %q", got)
	}
}

func TestSkipsUsedAndKeepsExisting(t *testing.T) {
	f := newFixture(t, "10.42.0.0/16", 24, node("old1", "10.42.0.0/24"), node("old2", "10.42.1.0/24"), node("new", ""))
	if got, _ := f.sync(t, "old1"); got != "" {
		t.Fatalf("re-patched a node that has a CIDR: %s", got)
	}
	if got, _ := f.sync(t, "new"); got != "10.42.2.0/24" {
		t.Fatalf("got %q", got)
	}
	// A node added later with a CIDR set by its creator is recorded at once.
	f.c.nodeChanged(node("preset", "10.42.3.0/24"))
	n := node("newer", "")
	_ = f.inf.Core().V1().Nodes().Informer().GetIndexer().Add(n)
	if got, _ := f.sync(t, "newer"); got != "10.42.4.0/24" {
		t.Fatalf("got %q", got)
	}
}

func TestExhaustedAndRelease(t *testing.T) {
	f := newFixture(t, "10.0.0.0/23", 24, node("a", ""), node("b", ""), node("c", ""))
	for _, n := range []string{"a", "b"} {
		if _, err := f.sync(t, n); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := f.sync(t, "c"); err == nil || got != "" {
		t.Fatalf("exhausted range: got %q, err %v", got, err)
	}
	var last string
	for len(f.events.Events) > 0 {
		last = <-f.events.Events
	}
	if !strings.Contains(last, "Warning CIDRNotAvailable") {
		t.Fatalf("last event %q", last)
	}
	f.c.nodeDeleted(node("a", "10.0.0.0/24"))
	if got, err := f.sync(t, "c"); err != nil || got != "10.0.0.0/24" {
		t.Fatalf("after release: got %q, err %v", got, err)
	}
}

func TestBadMaskSize(t *testing.T) {
	client := fake.NewClientset()
	inf := informers.NewSharedInformerFactory(client, 0)
	for _, tc := range []struct {
		cidr string
		mask int
	}{{"10.42.0.0/16", 8}, {"10.42.0.0/16", 33}, {"10.0.0.0/8", 28}} {
		_, cidr, _ := net.ParseCIDR(tc.cidr)
		if _, err := NewController(client, inf.Core().V1().Nodes(), cidr, tc.mask); err == nil {
			t.Errorf("%s /%d accepted", tc.cidr, tc.mask)
		}
	}
}

func TestCIDRSetIPv6(t *testing.T) {
	_, cidr, _ := net.ParseCIDR("fd00:42::/56")
	s, err := newCIDRSet(cidr, 64)
	if err != nil {
		t.Fatal(err)
	}
	if !s.occupy("x", "fd00:42::/64") {
		t.Fatal("occupy")
	}
	got, _ := s.allocate("y")
	if got != "fd00:42:0:1::/64" {
		t.Fatalf("got %s", got)
	}
	if _, ok := s.index("fd00:43::/64"); ok {
		t.Fatal("outside range accepted")
	}
	if s.occupy("z", "fd00:42:0:1::/64") {
		t.Fatal("took another node's block")
	}
}
