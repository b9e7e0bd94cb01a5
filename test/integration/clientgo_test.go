package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

func newNamespace(t *testing.T, name string) string {
	t.Helper()
	c := clientset(t)
	_, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

func TestClientGoCRUDAndConflicts(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns := newNamespace(t, "crud")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "one", Labels: map[string]string{"app": "x"}}, Data: map[string]string{"a": "1"}}
	created, err := c.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() {
		t.Fatalf("system metadata missing: %+v", created.ObjectMeta)
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: want AlreadyExists, got %v", err)
	}
	stale := created.DeepCopy()
	created.Data["a"] = "2"
	updated, err := c.CoreV1().ConfigMaps(ns).Update(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.ResourceVersion == stale.ResourceVersion {
		t.Fatal("resourceVersion did not change on update")
	}
	stale.Data["a"] = "3"
	if _, err := c.CoreV1().ConfigMaps(ns).Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: want Conflict, got %v", err)
	}
	got, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "one", metav1.GetOptions{})
	if err != nil || got.Data["a"] != "2" {
		t.Fatalf("get after update: %v %v", got, err)
	}
	if err := c.CoreV1().ConfigMaps(ns).Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "one", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: want NotFound, got %v", err)
	}
}

func TestClientGoPagination(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns := newNamespace(t, "paging")
	for i := 0; i < 25; i++ {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i)}}
		if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	seen, pages, cont := 0, 0, ""
	for {
		list, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{Limit: 10, Continue: cont, FieldSelector: ownConfigMaps})
		if err != nil {
			t.Fatal(err)
		}
		seen += len(list.Items)
		pages++
		cont = list.Continue
		if cont == "" {
			break
		}
	}
	if seen != 25 || pages != 3 {
		t.Fatalf("pagination: saw %d items in %d pages, want 25 in 3", seen, pages)
	}
}

func TestClientGoWatchFromResourceVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := clientset(t)
	ns := newNamespace(t, "watching")
	first, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().ConfigMaps(ns).Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := c.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion, FieldSelector: ownConfigMaps})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var events []string
	for len(events) < 2 {
		select {
		case ev := <-w.ResultChan():
			m := ev.Object.(metav1.Object)
			events = append(events, fmt.Sprintf("%s %s", ev.Type, m.GetName()))
		case <-ctx.Done():
			t.Fatalf("watch: got only %v", events)
		}
	}
	if events[0] != "ADDED b" || events[1] != "DELETED a" {
		t.Fatalf("watch from %s: got %v, want [ADDED b, DELETED a]", first.ResourceVersion, events)
	}
}

func TestClientGoInformer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := clientset(t)
	ns := newNamespace(t, "informing")
	factory := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().ConfigMaps().Informer()
	added := make(chan string, 10)
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { added <- obj.(*corev1.ConfigMap).Name },
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"before": true, "after": true}
	for len(want) > 0 {
		select {
		case n := <-added:
			delete(want, n)
		case <-ctx.Done():
			t.Fatalf("informer missed %v", want)
		}
	}
}

// TestPodsByNodeName: the watch cache indexes pods by spec.nodeName, as a
// node agent's list and watch select them. Lists selecting one node (or
// no node) and watches of one node must see exactly the matching pods,
// including a pod that moves into the selection when it is bound.
func TestPodsByNodeName(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := clientset(t)
	ns := newNamespace(t, "bynode")
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, FieldSelector: "spec.nodeName=idx-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	pod := func(name, node string) *corev1.Pod {
		// No scheduler owns "nobody": the unbound pod stays unbound until
		// the test binds it.
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{NodeName: node, SchedulerName: "nobody", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	for _, p := range []*corev1.Pod{pod("on-a", "idx-a"), pod("on-b", "idx-b"), pod("unbound", "")} {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(selector, rv string) []string {
		t.Helper()
		l, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: selector, ResourceVersion: rv})
		if err != nil {
			t.Fatalf("list %q: %v", selector, err)
		}
		var out []string
		for _, p := range l.Items {
			out = append(out, p.Name)
		}
		return out
	}
	for _, rv := range []string{"", "0"} {
		for selector, want := range map[string]string{"spec.nodeName=idx-a": "[on-a]", "spec.nodeName=": "[unbound]", "spec.nodeName!=idx-a": "[on-b unbound]"} {
			if got := fmt.Sprint(names(selector, rv)); got != want {
				t.Errorf("list %q (resourceVersion %q): %s, want %s", selector, rv, got, want)
			}
		}
	}
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "unbound"}, Target: corev1.ObjectReference{Kind: "Node", Name: "idx-a"}}
	if err := c.CoreV1().Pods(ns).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for len(seen) < 2 {
		select {
		case ev := <-w.ResultChan():
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				t.Fatalf("watch: %v %T", ev.Type, ev.Object)
			}
			seen = append(seen, string(ev.Type)+" "+p.Name)
		case <-ctx.Done():
			t.Fatalf("watch of node idx-a saw only %v", seen)
		}
	}
	if got := fmt.Sprint(seen); got != "[ADDED on-a ADDED unbound]" {
		t.Errorf("watch of node idx-a: %s, want [ADDED on-a ADDED unbound]", got)
	}
}
