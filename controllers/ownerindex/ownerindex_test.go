package ownerindex

import (
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func pod(ns, name string, owner types.UID) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if owner != "" {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: owner, Controller: &yes}}
	}
	return p
}

func TestPodsOwnedAndOrphans(t *testing.T) {
	inf := informers.NewSharedInformerFactory(fake.NewClientset(), 0).Core().V1().Pods().Informer()
	if err := Add(inf); err != nil {
		t.Fatal(err)
	}
	if err := Add(inf); err != nil { // a second controller on the same informer
		t.Fatalf("second Add: %v", err)
	}
	for _, p := range []*corev1.Pod{
		pod("a", "mine-1", "rs-1"), pod("a", "mine-2", "rs-1"), pod("a", "theirs", "rs-2"),
		pod("a", "orphan", ""), pod("b", "orphan-elsewhere", ""), pod("b", "forged", "rs-1"),
	} {
		if err := inf.GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Pods(inf.GetIndexer(), "a", "rs-1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	if want := []string{"mine-1", "mine-2", "orphan"}; len(names) != 3 || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
		t.Fatalf("got %v, want %v", names, want)
	}
	// Released by its controller: the pod moves to the orphans.
	released := pod("a", "mine-2", "")
	if err := inf.GetIndexer().Update(released); err != nil {
		t.Fatal(err)
	}
	if got, _ := Pods(inf.GetIndexer(), "a", "rs-2"); len(got) != 3 { // theirs, orphan, mine-2
		t.Fatalf("rs-2 sees %d pods, want 3", len(got))
	}
}
