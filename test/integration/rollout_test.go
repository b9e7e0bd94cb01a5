package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// rolloutWait bounds each wait of the rollout tests: 50 pods through the
// scheduler and simulated nodes on a shared 2-core machine can be slow.
const rolloutWait = 3 * time.Minute

func rolloutWaitFor(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, rolloutWait, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// ownNodes joins count simulated nodes named prefix-i, waits until they
// are Ready, and at cleanup stops and deletes them, so that no later test
// sees a dead node that still looks Ready for a few seconds.
func ownNodes(t *testing.T, c kubernetes.Interface, prefix string, count int) []string {
	t.Helper()
	startSimulatedNodes(t, prefix, count)
	var names []string
	for i := 0; i < count; i++ {
		names = append(names, fmt.Sprintf("%s-%d", prefix, i))
	}
	rolloutWaitFor(t, fmt.Sprintf("nodes %v ready", names), func(ctx context.Context) (bool, error) {
		for _, name := range names {
			n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil || !rolloutNodeReady(n) {
				return false, nil
			}
		}
		return true, nil
	})
	return names
}

// freshNamespace creates a namespace with a generated name (so -count=N
// works on the shared server) and deletes it at the end of the test.
func freshNamespace(t *testing.T, prefix string) string {
	t.Helper()
	c := clientset(t)
	ns, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s*: %v", prefix, err)
	}
	t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	return ns.Name
}

// onNodes pins a pod template to the named nodes: other tests' nodes may
// be dying while this one runs.
func onNodes(spec *corev1.PodSpec, names []string) {
	spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: names}},
		}}}}}
}

// dumpRolloutOnFailure logs the Deployments, ReplicaSets and pods of ns when the
// test has failed.
func dumpRolloutOnFailure(t *testing.T, c kubernetes.Interface, ns string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx := context.Background()
		if ds, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for _, d := range ds.Items {
				t.Logf("deployment %s gen %d paused %v annotations %v status %+v", d.Name, d.Generation, d.Spec.Paused, d.Annotations, d.Status)
			}
		}
		if rss, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for _, rs := range rss.Items {
				t.Logf("replicaset %s spec %d annotations %v status %+v", rs.Name, *rs.Spec.Replicas, rs.Annotations, rs.Status)
			}
		}
		if pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for _, p := range pods.Items {
				t.Logf("pod %s node %q phase %s ready %v deleting %v image %s conditions %+v", p.Name, p.Spec.NodeName, p.Status.Phase,
					rolloutPodReady(&p), p.DeletionTimestamp != nil, p.Spec.Containers[0].Image, p.Status.Conditions)
			}
		}
	})
}

func rolloutNodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func rolloutPodReady(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func rolloutDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.DeploymentSpec{
		Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}}},
	}}
}

// deploymentSettled reports whether the controller has seen the latest
// spec and every status count equals want.
func deploymentSettled(d *appsv1.Deployment, want int32) bool {
	st := d.Status
	return st.ObservedGeneration >= d.Generation && st.Replicas == want && st.UpdatedReplicas == want &&
		st.ReadyReplicas == want && st.AvailableReplicas == want && st.UnavailableReplicas == 0
}

// ownedByDeployment: the pod's controller is a ReplicaSet of deployment
// name (<name>-<hash>) and carries its pod-template-hash label.
func ownedByDeployment(p *corev1.Pod, name string) bool {
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.Kind == "ReplicaSet" && strings.HasPrefix(ref.Name, name+"-") &&
		p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != ""
}

// TestDeploymentScaleUpAndDown: 0 → 50 replicas all Running and Ready,
// then 5, with exactly 5 pods left and the status counts right.
func TestDeploymentScaleUpAndDown(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	nodes := ownNodes(t, c, "scale", 3)
	ns := freshNamespace(t, "rollout-scale-")
	dumpRolloutOnFailure(t, c, ns)

	d := rolloutDeployment("web", 0, "busybox:1.36")
	onNodes(&d.Spec.Template.Spec, nodes)
	d, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rolloutWaitFor(t, "empty deployment observed", func(ctx context.Context) (bool, error) {
		got, err := c.AppsV1().Deployments(ns).Get(ctx, d.Name, metav1.GetOptions{})
		return err == nil && got.Status.ObservedGeneration >= got.Generation && got.Status.Replicas == 0, nil
	})

	scaleTo := func(n int32) {
		t.Helper()
		s, err := c.AppsV1().Deployments(ns).GetScale(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Spec.Replicas = n
		if _, err := c.AppsV1().Deployments(ns).UpdateScale(ctx, d.Name, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// counts returns running+ready pods, pods not being deleted, and all.
	counts := func(ctx context.Context) (ready, live, all int, err error) {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return 0, 0, 0, err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if !ownedByDeployment(p, "web") {
				t.Errorf("pod %s is not owned by a ReplicaSet of the deployment: %v", p.Name, p.OwnerReferences)
			}
			all++
			if p.DeletionTimestamp != nil {
				continue
			}
			live++
			if p.Status.Phase == corev1.PodRunning && rolloutPodReady(p) && p.Spec.NodeName != "" {
				ready++
			}
		}
		return ready, live, all, nil
	}
	var last string
	defer func() {
		if t.Failed() {
			got, _ := c.AppsV1().Deployments(ns).Get(ctx, d.Name, metav1.GetOptions{})
			t.Logf("last counts %s; deployment status %+v", last, got.Status)
		}
	}()

	scaleTo(50)
	rolloutWaitFor(t, "50 pods running and ready", func(ctx context.Context) (bool, error) {
		ready, live, all, err := counts(ctx)
		last = fmt.Sprintf("ready %d live %d all %d", ready, live, all)
		return err == nil && ready == 50 && live == 50, nil
	})
	rolloutWaitFor(t, "deployment status at 50", func(ctx context.Context) (bool, error) {
		got, err := c.AppsV1().Deployments(ns).Get(ctx, d.Name, metav1.GetOptions{})
		return err == nil && deploymentSettled(got, 50), nil
	})
	rsList, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(rsList.Items) != 1 {
		t.Fatalf("want one ReplicaSet for a scale-only change, got %d (%v)", len(rsList.Items), err)
	}

	scaleTo(5)
	rolloutWaitFor(t, "exactly 5 pods left", func(ctx context.Context) (bool, error) {
		ready, live, all, err := counts(ctx)
		last = fmt.Sprintf("ready %d live %d all %d", ready, live, all)
		return err == nil && ready == 5 && live == 5 && all == 5, nil
	})
	rolloutWaitFor(t, "deployment status at 5", func(ctx context.Context) (bool, error) {
		got, err := c.AppsV1().Deployments(ns).Get(ctx, d.Name, metav1.GetOptions{})
		return err == nil && deploymentSettled(got, 5), nil
	})
	got, err := c.AppsV1().Deployments(ns).Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cond := deploymentCondition(got, appsv1.DeploymentAvailable); cond == nil || cond.Status != corev1.ConditionTrue {
		t.Errorf("Available condition: %+v", cond)
	}
	rs, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(rs.Items) != 1 {
		t.Fatalf("ReplicaSets after scale down: %d (%v)", len(rs.Items), err)
	}
	if st := rs.Items[0].Status; *rs.Items[0].Spec.Replicas != 5 || st.Replicas != 5 || st.ReadyReplicas != 5 || st.AvailableReplicas != 5 {
		t.Errorf("ReplicaSet spec %d status %+v, want 5 everywhere", *rs.Items[0].Spec.Replicas, st)
	}
	// The scale subresource reports the same.
	s, err := c.AppsV1().Deployments(ns).GetScale(ctx, d.Name, metav1.GetOptions{})
	if err != nil || s.Spec.Replicas != 5 || s.Status.Replicas != 5 {
		t.Errorf("scale subresource: %+v %v", s, err)
	}
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// rolloutWatch follows the Deployment's pods through a watch and checks
// the rolling-update bounds at every event.
type rolloutWatch struct {
	mu       sync.Mutex
	name     string
	pods     map[string]*corev1.Pod
	events   int
	minReady int // fewest Ready, not terminating pods seen
	maxLive  int // most pods not terminating seen
	worst    string
}

func (w *rolloutWatch) observe(ev watch.EventType, p *corev1.Pod) {
	if !ownedByDeployment(p, w.name) {
		return
	}
	if ev == watch.Deleted {
		delete(w.pods, p.Name)
	} else {
		w.pods[p.Name] = p
	}
	w.events++
	ready, live := 0, 0
	for _, q := range w.pods {
		if q.DeletionTimestamp != nil {
			continue
		}
		live++
		if rolloutPodReady(q) {
			ready++
		}
	}
	if ready < w.minReady {
		w.minReady = ready
		w.worst = fmt.Sprintf("event %d (%s %s): %d ready, %d live", w.events, ev, p.Name, ready, live)
	}
	if live > w.maxLive {
		w.maxLive = live
	}
}

// TestRollingUpdateKeepsAvailability changes the image of a 10-replica
// Deployment (maxUnavailable 1, maxSurge 1, minReadySeconds 1) and checks,
// at every pod event of the whole rollout, that at least 9 pods are Ready
// and at most 11 exist.
func TestRollingUpdateKeepsAvailability(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	nodes := ownNodes(t, c, "roll", 3)
	ns := freshNamespace(t, "rollout-rolling-")
	dumpRolloutOnFailure(t, c, ns)

	const replicas, surge, unavailable = 10, 1, 1
	d := rolloutDeployment("web", replicas, "busybox:1.36")
	d.Spec.MinReadySeconds = 1
	onNodes(&d.Spec.Template.Spec, nodes)
	s, u := intstr.FromInt32(surge), intstr.FromInt32(unavailable)
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}}
	// Readiness a moment after start makes each step of the rollout wait.
	d.Spec.Template.Annotations = map[string]string{"sim.corral.dev/ready-after": "500ms"}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rolloutWaitFor(t, "first rollout complete", func(ctx context.Context) (bool, error) {
		got, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && deploymentSettled(got, replicas), nil
	})

	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := &rolloutWatch{name: "web", pods: map[string]*corev1.Pod{}, minReady: replicas + surge + 1}
	for i := range list.Items {
		w.pods[list.Items[i].Name] = &list.Items[i]
	}
	w.observe(watch.Modified, &list.Items[0])
	w.events = 0
	if w.minReady != replicas || w.maxLive != replicas {
		t.Fatalf("before the update: %d ready, %d live; want %d", w.minReady, w.maxLive, replicas)
	}
	oldPods := map[string]bool{}
	for name := range w.pods {
		oldPods[name] = true
	}
	rv := list.ResourceVersion

	// Follow the pods in the background from the list's resourceVersion;
	// the main goroutine only signals when the Deployment is done.
	wctx, cancel := context.WithTimeout(ctx, rolloutWait+time.Minute)
	defer cancel()
	done := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- func() error {
			finished := false
			for {
				wi, err := c.CoreV1().Pods(ns).Watch(wctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
				if err != nil {
					return err
				}
				for ev := range wi.ResultChan() {
					switch ev.Type {
					case watch.Error:
						wi.Stop()
						if wctx.Err() != nil {
							return wctx.Err() // our own cancel, surfacing as a decode error
						}
						return fmt.Errorf("watch error: %v", ev.Object)
					}
					p := ev.Object.(*corev1.Pod)
					rv = p.ResourceVersion
					if ev.Type != watch.Bookmark {
						w.mu.Lock()
						w.observe(ev.Type, p)
						w.mu.Unlock()
					}
				}
				wi.Stop()
				select {
				case <-done:
					finished = true
				default:
				}
				if finished || wctx.Err() != nil {
					return wctx.Err()
				}
				// The server closed the watch (timeout): go on from rv.
			}
		}()
	}()

	// The update.
	if err := retryUpdateDeployment(ctx, c, ns, "web", func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = "busybox:1.37"
	}); err != nil {
		t.Fatal(err)
	}
	rolloutWaitFor(t, "second rollout complete", func(ctx context.Context) (bool, error) {
		got, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil || !deploymentSettled(got, replicas) {
			return false, nil
		}
		// Done when only the new pods are left, all of them Ready.
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) != replicas {
			return false, nil
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Spec.Containers[0].Image != "busybox:1.37" || !rolloutPodReady(p) || oldPods[p.Name] {
				return false, nil
			}
		}
		return true, nil
	})
	// Let the watch catch up with the final state, then stop it.
	final, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rolloutWaitFor(t, "watch caught up", func(context.Context) (bool, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.pods) != len(final.Items) {
			return false, nil
		}
		for i := range final.Items {
			if p := w.pods[final.Items[i].Name]; p == nil || p.ResourceVersion != final.Items[i].ResourceVersion {
				return false, nil
			}
		}
		return true, nil
	})
	close(done)
	cancel()
	if err := <-result; err != nil && err != context.Canceled {
		t.Fatalf("watch: %v", err)
	}

	t.Logf("%d pod events; fewest ready %d (%s); most live %d", w.events, w.minReady, w.worst, w.maxLive)
	if w.minReady < replicas-unavailable {
		t.Errorf("ready pods dropped to %d < replicas-maxUnavailable = %d at %s", w.minReady, replicas-unavailable, w.worst)
	}
	if w.maxLive > replicas+surge {
		t.Errorf("%d pods existed at once > replicas+maxSurge = %d", w.maxLive, replicas+surge)
	}
	// The watch must have seen the whole rollout: every old pod going and
	// every new one arriving.
	newSeen := 0
	for name := range w.pods {
		if oldPods[name] {
			t.Errorf("old pod %s still in the watched state", name)
		} else {
			newSeen++
		}
	}
	if newSeen != replicas || w.events < 4*replicas {
		t.Errorf("watch saw %d new pods and %d events; want %d and at least %d", newSeen, w.events, replicas, 4*replicas)
	}
}

func retryUpdateDeployment(ctx context.Context, c kubernetes.Interface, ns, name string, mutate func(*appsv1.Deployment)) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		mutate(d)
		_, err = c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err == nil, nil
	})
}

// TestKubectlRollout drives `kubectl rollout` (the real /usr/bin/kubectl)
// through status, history, undo, undo --to-revision, pause/resume and
// restart.
func TestKubectlRollout(t *testing.T) {
	bin := kubectlBinary{name: "usr-bin", path: "/usr/bin/kubectl"}
	if _, err := kubectlClientMinor(bin.path); err != nil {
		t.Skipf("no usable %s: %v", bin.path, err)
	}
	c := clientset(t)
	ownNodes(t, c, "kroll", 2)
	k := newKctl(t, bin, t.TempDir(), fmt.Sprintf("rollout-%d", time.Now().UnixNano()%1000000))
	dumpRolloutOnFailure(t, c, k.ns)
	ctx := context.Background()

	k.in(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: kubernetes.io/hostname, operator: In, values: [kroll-0, kroll-1]}
      containers:
      - name: c
        image: busybox:1.36
`, "apply", "-f", "-").must()
	status := func() {
		t.Helper()
		k.run("rollout", "status", "deployment/web", "--timeout=50s").must().has("successfully rolled out")
	}
	image := func() string {
		t.Helper()
		return k.jsonpath("{.spec.template.spec.containers[0].image}", "deployment", "web")
	}
	revision := func() string {
		t.Helper()
		return k.jsonpath(`{.metadata.annotations.deployment\.kubernetes\.io/revision}`, "deployment", "web")
	}
	// podImages maps the live pods of the deployment to their images.
	podImages := func() map[string]string {
		t.Helper()
		pods, err := c.CoreV1().Pods(k.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				out[p.Name] = p.Spec.Containers[0].Image
			}
		}
		return out
	}
	// settledOn waits until exactly the 3 live pods run image.
	settledOn := func(image string) map[string]string {
		t.Helper()
		var pods map[string]string
		rolloutWaitFor(t, "3 pods on "+image, func(context.Context) (bool, error) {
			pods = podImages()
			if len(pods) != 3 {
				return false, nil
			}
			for _, img := range pods {
				if img != image {
					return false, nil
				}
			}
			return true, nil
		})
		return pods
	}

	status()
	settledOn("busybox:1.36")
	k.run("set", "image", "deployment/web", "c=busybox:1.37").must()
	status()
	settledOn("busybox:1.37")
	if got := revision(); got != "2" {
		t.Errorf("revision after one update: %q, want 2", got)
	}

	// The change cause is copied to the current ReplicaSet, where history
	// reads it.
	k.run("annotate", "deployment/web", "kubernetes.io/change-cause=image 1.37").must()
	var hist *kres
	rolloutWaitFor(t, "change cause in the history", func(context.Context) (bool, error) {
		hist = k.run("rollout", "history", "deployment/web").must()
		return strings.Contains(strings.Join(hist.row("2 "), " "), "image 1.37"), nil
	})
	hist.has("REVISION", "CHANGE-CAUSE")
	if hist.row("1 ") == nil || hist.row("2 ") == nil {
		t.Errorf("history lacks revisions 1 and 2: %s", hist)
	}
	k.run("rollout", "history", "deployment/web", "--revision=1").must().has("busybox:1.36")
	k.run("rollout", "history", "deployment/web", "--revision=2").must().has("busybox:1.37")

	// undo: back to the previous template, as a new revision 3; revision 1
	// is gone from the history (its ReplicaSet now carries 3).
	k.run("rollout", "undo", "deployment/web").must().has("rolled back")
	status()
	settledOn("busybox:1.36")
	if got, rev := image(), revision(); got != "busybox:1.36" || rev != "3" {
		t.Errorf("after undo: image %q revision %q, want busybox:1.36 and 3", got, rev)
	}
	hist = k.run("rollout", "history", "deployment/web").must()
	if hist.row("1 ") != nil || hist.row("2 ") == nil || hist.row("3 ") == nil {
		t.Errorf("history after undo, want revisions 2 and 3 only: %s", hist)
	}

	// undo --to-revision=2: the 1.37 template again, revision 4.
	k.run("rollout", "undo", "deployment/web", "--to-revision=2").must().has("rolled back")
	status()
	settledOn("busybox:1.37")
	if got, rev := image(), revision(); got != "busybox:1.37" || rev != "4" {
		t.Errorf("after undo --to-revision=2: image %q revision %q, want busybox:1.37 and 4", got, rev)
	}
	k.run("rollout", "undo", "deployment/web", "--to-revision=99").fails()

	// pause: a template change does not roll until resume.
	k.run("rollout", "pause", "deployment/web").must().has("paused")
	k.run("set", "image", "deployment/web", "c=busybox:1.38").must()
	rolloutWaitFor(t, "paused change observed", func(ctx context.Context) (bool, error) {
		d, err := c.AppsV1().Deployments(k.ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.ObservedGeneration >= d.Generation, nil
	})
	if cond := k.jsonpath(`{.status.conditions[?(@.type=="Progressing")].reason}`, "deployment", "web"); cond != "DeploymentPaused" {
		t.Errorf("Progressing reason while paused: %q, want DeploymentPaused", cond)
	}
	// The controller has seen the paused change; give it a few more syncs
	// to (wrongly) act on it before looking.
	time.Sleep(2 * time.Second)
	for name, img := range podImages() {
		if img != "busybox:1.37" {
			t.Errorf("paused deployment rolled: pod %s runs %s", name, img)
		}
	}
	rsList, err := c.AppsV1().ReplicaSets(k.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range rsList.Items {
		if rs.Spec.Template.Spec.Containers[0].Image == "busybox:1.38" {
			t.Errorf("paused deployment created ReplicaSet %s for the new template", rs.Name)
		}
	}
	if got := revision(); got != "4" {
		t.Errorf("revision while paused: %q, want 4", got)
	}
	k.run("rollout", "status", "deployment/web", "--watch=false").must().has("0 out of 3 new replicas have been updated")
	k.run("rollout", "resume", "deployment/web").must().has("resumed")
	status()
	settledOn("busybox:1.38")
	if got := revision(); got != "5" {
		t.Errorf("revision after resume: %q, want 5", got)
	}

	// restart: same image, all pods replaced.
	before := settledOn("busybox:1.38")
	k.run("rollout", "restart", "deployment/web").must().has("restarted")
	status()
	after := settledOn("busybox:1.38")
	for name := range after {
		if _, ok := before[name]; ok {
			t.Errorf("pod %s survived rollout restart", name)
		}
	}
	if k.jsonpath(`{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}`, "deployment", "web") == "" {
		t.Errorf("restart left no restartedAt annotation")
	}
	if got := revision(); got != "6" {
		t.Errorf("revision after restart: %q, want 6", got)
	}
}
