package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// podEvents records, in order, the pods of a selector as they are added
// and as their deletion starts.
type podEvents struct {
	mu       sync.Mutex
	added    []string
	deleting []string
	seen     map[string]bool
}

func watchPodEvents(t *testing.T, c kubernetes.Interface, ns, selector string) *podEvents {
	t.Helper()
	// An informer rather than a bare watch: on a loaded machine the watch
	// cache may refuse or end a watch ("Too large resource version"), and
	// the informer re-lists and re-watches where a bare watch would stop
	// recording. Its handlers see every pod in order; a re-list shows
	// known pods again as updates, which the seen maps ignore.
	ev := &podEvents{seen: map[string]bool{}}
	added := map[string]bool{}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return c.CoreV1().Pods(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return c.CoreV1().Pods(ns).Watch(ctx, o)
		},
	}
	record := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			if d, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
				p, ok = d.Obj.(*corev1.Pod)
			}
			if !ok {
				return
			}
		}
		ev.mu.Lock()
		defer ev.mu.Unlock()
		uid := string(p.UID)
		if !added[uid] {
			added[uid] = true
			ev.added = append(ev.added, p.Name)
		}
		if p.DeletionTimestamp != nil && !ev.seen[uid] {
			ev.seen[uid] = true
			ev.deleting = append(ev.deleting, p.Name)
		}
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, obj any) { record(obj) },
		DeleteFunc: func(obj any) {
			// A pod deleted without a graceful phase first (grace 0).
			if p, ok := obj.(*corev1.Pod); ok && p.DeletionTimestamp == nil {
				now := metav1.Now()
				p = p.DeepCopy()
				p.DeletionTimestamp = &now
				obj = p
			}
			record(obj)
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("pod informer never synced")
	}
	return ev
}

// take returns and clears what was recorded.
func (e *podEvents) take() (added, deleting []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	added, deleting = e.added, e.deleting
	e.added, e.deleting = nil, nil
	return added, deleting
}

func waitStatefulSet(t *testing.T, c kubernetes.Interface, ns, name string, replicas int32, image string) *appsv1.StatefulSet {
	t.Helper()
	var got *appsv1.StatefulSet
	defer func() {
		if t.Failed() && got != nil {
			t.Logf("statefulset status: %+v", got.Status)
		}
	}()
	eventually(t, fmt.Sprintf("statefulset %s: %d ready pods of %s", name, replicas, image), func(ctx context.Context) (bool, error) {
		set, err := c.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = set
		st := set.Status
		if st.ObservedGeneration != set.Generation || st.Replicas != replicas || st.ReadyReplicas != replicas ||
			st.AvailableReplicas != replicas || st.UpdatedReplicas != replicas || st.CurrentReplicas != replicas ||
			st.CurrentRevision != st.UpdateRevision {
			return false, nil
		}
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil || len(pods.Items) != int(replicas) {
			return false, nil
		}
		for _, p := range pods.Items {
			if p.Spec.Containers[0].Image != image || p.DeletionTimestamp != nil {
				return false, nil
			}
		}
		return true, nil
	})
	return got
}

// TestStatefulSetOrderedLifecycle: OrderedReady creates db-0, db-1, db-2 in
// order with their PVCs, scales down from the highest ordinal keeping the
// claims, rolls an update from the highest ordinal, and the real kubectl's
// rollout status, history and undo work on it.
func TestStatefulSetOrderedLifecycle(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	lbl := map[string]string{"corral.test/statefulset": "ordered"}
	startLabeledNodes(t, "sts", 2, lbl)
	waitNodesReady(t, c, "sts-0", "sts-1")
	k := newKctl(t, kubectlBinary{name: "usr-bin", path: "/usr/bin/kubectl"}, t.TempDir(), "sts-ordered")
	ns := k.ns
	events := watchPodEvents(t, c, ns, "app=db")

	replicas := int32(3)
	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: appsv1.StatefulSetSpec{
		Replicas:    &replicas,
		ServiceName: "db",
		Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
			// The "data" mount is served by the claim template alone.
			Spec: corev1.PodSpec{NodeSelector: lbl, Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36",
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}}}},
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}},
	}}
	if _, err := c.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatefulSet(t, c, ns, "db", 3, "busybox:1.36")
	added, _ := events.take()
	if got := strings.Join(added, ","); got != "db-0,db-1,db-2" {
		t.Errorf("pods created in order %s, want db-0,db-1,db-2", got)
	}
	// Each pod was created only once its predecessor was ready.
	pods := map[string]corev1.Pod{}
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=db"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		pods[p.Name] = p
	}
	for i := 1; i < 3; i++ {
		prev, cur := pods[fmt.Sprintf("db-%d", i-1)], pods[fmt.Sprintf("db-%d", i)]
		var readyAt metav1.Time
		for _, cond := range prev.Status.Conditions {
			if cond.Type == corev1.PodReady {
				readyAt = cond.LastTransitionTime
			}
		}
		if cur.CreationTimestamp.Before(&readyAt) {
			t.Errorf("%s created at %v, before %s was ready at %v", cur.Name, cur.CreationTimestamp, prev.Name, readyAt)
		}
	}
	// Identity and storage.
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("db-%d", i)
		p := pods[name]
		if p.Labels[appsv1.StatefulSetPodNameLabel] != name || p.Labels[appsv1.PodIndexLabel] != fmt.Sprint(i) {
			t.Errorf("%s labels %v", name, p.Labels)
		}
		if p.Spec.Hostname != name || p.Spec.Subdomain != "db" {
			t.Errorf("%s hostname %q subdomain %q", name, p.Spec.Hostname, p.Spec.Subdomain)
		}
		claim := fmt.Sprintf("data-db-%d", i)
		if v := p.Spec.Volumes[0]; v.Name != "data" || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claim {
			t.Errorf("%s volumes %+v, want data -> %s", name, p.Spec.Volumes, claim)
		}
		pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
		if err != nil {
			t.Errorf("claim %s: %v", claim, err)
		} else if pvc.Labels["app"] != "db" || len(pvc.OwnerReferences) != 0 {
			t.Errorf("claim %s labels %v owners %v (Retain: no owner)", claim, pvc.Labels, pvc.OwnerReferences)
		}
	}
	k.run("rollout", "status", "statefulset/db", "--timeout=60s").must().has("roll out complete")

	// Scale down: db-2 goes before db-1; the claims stay (Retain).
	k.run("scale", "statefulset/db", "--replicas=1").must()
	waitStatefulSet(t, c, ns, "db", 1, "busybox:1.36")
	if _, deleting := events.take(); strings.Join(deleting, ",") != "db-2,db-1" {
		t.Errorf("pods deleted in order %v, want db-2,db-1", deleting)
	}
	for i := 1; i < 3; i++ {
		if _, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, fmt.Sprintf("data-db-%d", i), metav1.GetOptions{}); err != nil {
			t.Errorf("claim data-db-%d after scale down: %v", i, err)
		}
	}
	k.run("scale", "statefulset/db", "--replicas=3").must()
	waitStatefulSet(t, c, ns, "db", 3, "busybox:1.36")
	if added, _ := events.take(); strings.Join(added, ",") != "db-1,db-2" {
		t.Errorf("pods re-created in order %v, want db-1,db-2", added)
	}

	// Rolling update: from the highest ordinal down.
	k.run("set", "image", "statefulset/db", "c=busybox:1.37").must()
	k.run("rollout", "status", "statefulset/db", "--timeout=60s").must()
	updated := waitStatefulSet(t, c, ns, "db", 3, "busybox:1.37")
	if _, deleting := events.take(); strings.Join(deleting, ",") != "db-2,db-1,db-0" {
		t.Errorf("pods replaced in order %v, want db-2,db-1,db-0", deleting)
	}
	list, err = c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=db"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		if p.Labels[appsv1.StatefulSetRevisionLabel] != updated.Status.UpdateRevision {
			t.Errorf("%s at revision %s, want %s", p.Name, p.Labels[appsv1.StatefulSetRevisionLabel], updated.Status.UpdateRevision)
		}
	}
	k.run("rollout", "history", "statefulset/db").must().has("1 ", "2 ")
	k.run("rollout", "history", "statefulset/db", "--revision=1").must().has("busybox:1.36")
	k.run("rollout", "undo", "statefulset/db").must().has("rolled back")
	waitStatefulSet(t, c, ns, "db", 3, "busybox:1.36")
	// Pods re-created twice went back to the node that holds their volume.
	for i := 0; i < 3; i++ {
		pod, err := c.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("db-%d", i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := volumeNode(t, c, ns, fmt.Sprintf("data-db-%d", i)); pod.Spec.NodeName != want {
			t.Errorf("%s on %s, its volume on %s", pod.Name, pod.Spec.NodeName, want)
		}
	}
	revs, err := c.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=db"})
	if err != nil {
		t.Fatal(err)
	}
	var nums []string
	for _, r := range revs.Items {
		nums = append(nums, fmt.Sprint(r.Revision))
	}
	if got := strings.Join(sortedStrings(nums), ","); got != "2,3" {
		t.Errorf("revisions after undo: %s, want 2,3", got)
	}
}

// TestStatefulSetParallelPartitionAndClaimDeletion: Parallel creates every
// pod at once; a partition limits the update to the ordinals above it;
// whenScaled=Delete removes the claims of scaled-away pods.
func TestStatefulSetParallelPartitionAndClaimDeletion(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	lbl := map[string]string{"corral.test/statefulset": "parallel"}
	startLabeledNodes(t, "stp", 2, lbl)
	waitNodesReady(t, c, "stp-0", "stp-1")
	k := newKctl(t, kubectlBinary{name: "usr-bin", path: "/usr/bin/kubectl"}, t.TempDir(), "sts-parallel")
	ns := k.ns
	// kubectl apply: the manifest path users take, with server defaults.
	k.in(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: 3
  podManagementPolicy: Parallel
  serviceName: web
  selector:
    matchLabels: {app: web}
  persistentVolumeClaimRetentionPolicy:
    whenScaled: Delete
    whenDeleted: Retain
  template:
    metadata:
      labels: {app: web}
    spec:
      nodeSelector: {corral.test/statefulset: parallel}
      containers:
      - name: c
        image: busybox:1.36
        volumeMounts: [{name: www, mountPath: /www}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`, "apply", "-f", "-").must()
	waitStatefulSet(t, c, ns, "web", 3, "busybox:1.36")
	claims := func() string {
		list, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil {
				names = append(names, p.Name)
			}
		}
		return strings.Join(sortedStrings(names), ",")
	}
	if got := claims(); got != "www-web-0,www-web-1,www-web-2" {
		t.Fatalf("claims %s", got)
	}

	// Partition 2: only web-2 moves to the new template.
	k.run("patch", "statefulset/web", "--type=merge", "-p",
		`{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}},"template":{"spec":{"containers":[{"name":"c","image":"busybox:1.37"}]}}}}`).must()
	k.run("rollout", "status", "statefulset/web", "--timeout=60s").must().has("partitioned roll out complete: 1 new pods have been updated")
	eventually(t, "web-2 alone on busybox:1.37", func(ctx context.Context) (bool, error) {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(pods.Items) != 3 {
			return false, nil
		}
		for _, p := range pods.Items {
			want := "busybox:1.36"
			if p.Name == "web-2" {
				want = "busybox:1.37"
			}
			if p.Spec.Containers[0].Image != want || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
				return false, nil
			}
		}
		return true, nil
	})
	set, err := c.AppsV1().StatefulSets(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := set.Status; st.UpdatedReplicas != 1 || st.CurrentReplicas != 2 || st.CurrentRevision == st.UpdateRevision {
		t.Errorf("partitioned status %+v", st)
	}

	// Scaling down to 1 removes web-1, web-2 and, with whenScaled=Delete,
	// their claims.
	k.run("scale", "statefulset/web", "--replicas=1").must()
	eventually(t, "claims of scaled-away pods deleted", func(ctx context.Context) (bool, error) {
		return claims() == "www-web-0", nil
	})
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Name != "web-0" && p.DeletionTimestamp == nil {
			t.Errorf("pod %s still live after scaling to 1", p.Name)
		}
	}
}

// volumeNode is the node a claim's local-path volume is pinned to.
func volumeNode(t *testing.T, c kubernetes.Interface, ns, claim string) string {
	t.Helper()
	ctx := context.Background()
	pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := c.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("claim %s volume %q: %v", claim, pvc.Spec.VolumeName, err)
	}
	if a := pv.Spec.NodeAffinity; a != nil && a.Required != nil && len(a.Required.NodeSelectorTerms) > 0 {
		if ex := a.Required.NodeSelectorTerms[0].MatchExpressions; len(ex) > 0 && len(ex[0].Values) > 0 {
			return ex[0].Values[0]
		}
	}
	t.Fatalf("volume %s has no node affinity", pv.Name)
	return ""
}
