package daemonset

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"corral/controllers/history"
	"corral/controllers/ownerindex"
)

// sync brings one DaemonSet's pods in line with the nodes and records its
// status. Nothing read from the informer caches is modified.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid DaemonSet key", "key", key)
		return 0, nil
	}
	ds, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Delete(key)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		// Retrying cannot fix a bad selector; the next spec change will.
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid DaemonSet selector", "daemonSet", key)
		return 0, nil
	}
	if selector.Empty() {
		c.recorder.Event(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return 0, nil
	}
	// Read before listing pods, so an event in between cannot make a stale
	// cache look current.
	needsSync := c.expectations.Satisfied(key)
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return 0, err
	}
	nodePods, err := c.podsByNode(ctx, ds, selector)
	if err != nil {
		return 0, err
	}
	if ds.DeletionTimestamp != nil {
		return 0, nil // the garbage collector removes the pods
	}
	collisionCount := int32(0)
	if ds.Status.CollisionCount != nil {
		collisionCount = *ds.Status.CollisionCount
	}
	cur, old, err := c.constructHistory(ctx, ds, selector, &collisionCount)
	if err != nil {
		return 0, err
	}
	hash := cur.Labels[history.HashLabel]

	var after time.Duration
	var manageErr error
	if needsSync {
		after, manageErr = c.manage(ctx, ds, nodes, nodePods, hash)
	}
	errs := []error{manageErr}
	// The update acts only on a cache that has seen manage's changes.
	if manageErr == nil && c.expectations.Satisfied(key) && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		errs = append(errs, c.rollingUpdate(ctx, ds, nodes, nodePods, hash))
	}
	errs = append(errs, c.cleanupHistory(ctx, ds, cur, old, nodePods))

	st := calculateStatus(ds, nodes, nodePods, hash, collisionCount, c.clock.Now())
	if err := c.updateStatus(ctx, ds.DeepCopy(), st); err != nil {
		errs = append(errs, err)
	}
	// Ready pods turn available after minReadySeconds without any event.
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		wait := time.Duration(ds.Spec.MinReadySeconds) * time.Second
		if after == 0 || wait < after {
			after = wait
		}
	}
	return after, utilerrors.NewAggregate(errs)
}

// podsByNode returns the DaemonSet's pods, after adopting and releasing,
// grouped by the node they are for. Terminal pods already being deleted
// are left out: they will not run again.
func (c *Controller) podsByNode(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) (map[string][]*corev1.Pod, error) {
	all, err := ownerindex.Pods(c.podIndexer, ds.Namespace, ds.UID)
	if err != nil {
		return nil, err
	}
	pods, err := c.claimPods(ctx, ds, selector, all)
	if err != nil {
		return nil, err
	}
	out := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil && terminal(p) {
			continue
		}
		node := targetNode(p)
		out[node] = append(out[node], p)
	}
	return out, nil
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded
}

// claimPods adopts matching orphans and releases owned pods that no longer
// match; it returns the owned, matching pods.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	var owned []*corev1.Pod
	var errs []error
	var adoptErr error
	adoptChecked := false
	for _, pod := range pods {
		match := selector.Matches(labels.Set(pod.Labels))
		if ref := metav1.GetControllerOf(pod); ref != nil {
			if ref.UID != ds.UID {
				continue
			}
			if match {
				owned = append(owned, pod)
			} else if ds.DeletionTimestamp == nil {
				errs = append(errs, c.patchPod(ctx, pod, ownerPatch(pod.UID, []map[string]any{{"$patch": "delete", "uid": ds.UID}})))
			}
			continue
		}
		if !match || pod.DeletionTimestamp != nil || ds.DeletionTimestamp != nil {
			continue
		}
		if !adoptChecked {
			adoptChecked = true
			adoptErr = c.canAdopt(ds)(ctx)
			errs = append(errs, adoptErr)
		}
		if adoptErr != nil {
			continue
		}
		if err := c.patchPod(ctx, pod, ownerPatch(pod.UID, []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)})); err != nil {
			errs = append(errs, err)
			continue
		}
		owned = append(owned, pod)
	}
	return owned, utilerrors.NewAggregate(errs)
}

// ownerPatch carries the pod's uid so that the server rejects it when the
// pod was replaced by another of the same name.
func ownerPatch(uid types.UID, refs any) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": refs, "uid": uid}})
	return b
}

func (c *Controller) patchPod(ctx context.Context, pod *corev1.Pod, patch []byte) error {
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		return nil
	}
	return err
}

// constructHistory returns the revision of the current template (creating
// it, or renumbering an old one after a rollback) and the others.
func (c *Controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector,
	collisionCount *int32) (*appsv1.ControllerRevision, []*appsv1.ControllerRevision, error) {
	revs, err := c.history.Claim(ctx, ds, controllerKind, selector, c.canAdopt(ds))
	if err != nil {
		return nil, nil, err
	}
	patch, err := history.TemplatePatch(ds)
	if err != nil {
		return nil, nil, err
	}
	want := history.New(ds, controllerKind, ds.Spec.Template.Labels, patch, 0)
	equal := history.FindEqual(revs, want)
	var cur *appsv1.ControllerRevision
	var old []*appsv1.ControllerRevision
	if len(equal) > 0 {
		history.Sort(equal)
		cur = equal[len(equal)-1]
	}
	maxOld := int64(0)
	for _, r := range revs {
		if r != cur {
			old = append(old, r)
			maxOld = max(maxOld, r.Revision)
		}
	}
	if cur == nil {
		want.Revision = maxOld + 1
		cur, err = c.history.Create(ctx, ds, want, collisionCount)
		return cur, old, err
	}
	if cur.Revision <= maxOld {
		// Back to an older template (rollout undo): it becomes the newest.
		cur, err = c.history.SetRevision(ctx, cur, maxOld+1)
	}
	return cur, old, err
}

// cleanupHistory deletes the oldest revisions beyond revisionHistoryLimit
// that no pod runs.
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, cur *appsv1.ControllerRevision,
	old []*appsv1.ControllerRevision, nodePods map[string][]*corev1.Pod) error {
	limit := int32(10)
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = *ds.Spec.RevisionHistoryLimit
	}
	if len(old) <= int(limit) {
		return nil
	}
	hashes := sets.New[string]()
	for _, pods := range nodePods {
		for _, p := range pods {
			if h, ok := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; ok {
				hashes.Insert(h)
			}
		}
	}
	live := sets.New(cur.Name)
	for _, r := range old {
		if hashes.Has(r.Labels[history.HashLabel]) {
			live.Insert(r.Name)
		}
	}
	// Upstream counts revisions still in use against the limit too: of
	// len(old)-limit victims, only unused ones are deleted.
	inUse := int32(0)
	for _, r := range old {
		if live.Has(r.Name) {
			inUse++
		}
	}
	return c.history.Truncate(ctx, old, live, max(limit-inUse, 0))
}

// manage creates the missing daemon pods and deletes those that must go.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, nodePods map[string][]*corev1.Pod,
	hash string) (time.Duration, error) {
	var create []string
	var del []*corev1.Pod
	var after time.Duration
	known := sets.New[string]()
	for _, node := range nodes {
		known.Insert(node.Name)
		cr, d, wait := c.podsShouldBeOnNode(ds, node, nodePods[node.Name], hash)
		if cr {
			create = append(create, node.Name)
		}
		del = append(del, d...)
		if wait > 0 && (after == 0 || wait < after) {
			after = wait
		}
	}
	// Pods for nodes that are gone never get scheduled, so the pod GC
	// (which handles bound pods) does not see them: delete them here.
	for name, pods := range nodePods {
		if known.Has(name) {
			continue
		}
		for _, p := range pods {
			if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
				del = append(del, p)
			}
		}
	}
	sort.Strings(create)
	return after, c.syncNodes(ctx, ds, del, create, hash)
}

// podsShouldBeOnNode decides for one node whether to create a pod and
// which to delete; wait > 0 asks for a sync after a failed-pod backoff.
func (c *Controller) podsShouldBeOnNode(ds *appsv1.DaemonSet, node *corev1.Node, pods []*corev1.Pod,
	hash string) (create bool, del []*corev1.Pod, wait time.Duration) {
	run, keep := shouldRun(node, ds)
	exists := len(pods) > 0
	switch {
	case run && !exists:
		return true, nil, 0
	case keep:
		var running []*corev1.Pod
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			if terminal(p) {
				// Replace a failed or finished pod, but not faster than
				// the node's backoff allows.
				key := string(ds.UID) + "/" + node.Name
				now := c.clock.Now()
				if c.failedPods.IsInBackOffSinceUpdate(key, now) {
					wait = c.failedPods.Get(key)
					continue
				}
				c.failedPods.Next(key, now)
				c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s on node %s, will try to kill it", podKey(p), node.Name)
				del = append(del, p)
				continue
			}
			running = append(running, p)
		}
		sortPods(running)
		if !allowsSurge(ds) {
			if len(running) > 1 {
				del = append(del, running[1:]...) // keep the oldest
			}
			return false, del, wait
		}
		// With surge a node may hold one old and one new pod while the new
		// one becomes available; anything beyond that goes.
		generation := templateGeneration(ds)
		var oldestNew, oldestOld *corev1.Pod
		for _, p := range running {
			switch {
			case isUpdated(p, hash, generation) && oldestNew == nil:
				oldestNew = p
			case !isUpdated(p, hash, generation) && oldestOld == nil:
				oldestOld = p
			default:
				del = append(del, p)
			}
		}
		if oldestNew != nil && oldestOld != nil && (!podReady(oldestOld) || podAvailable(oldestNew, ds.Spec.MinReadySeconds, c.clock.Now())) {
			del = append(del, oldestOld)
		}
		return false, del, wait
	case !keep && exists:
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				del = append(del, p)
			}
		}
	}
	return false, del, wait
}

// sortPods puts scheduled pods first, then the oldest.
func sortPods(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName != "") != (b.Spec.NodeName != "") {
			return a.Spec.NodeName != ""
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// syncNodes deletes del and creates one pod for each node in create,
// recording expectations first: the informer may see a pod before the
// call returns.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, del []*corev1.Pod, create []string, hash string) error {
	if len(del) == 0 && len(create) == 0 {
		return nil
	}
	logger := klog.FromContext(ctx)
	key := keyOf(ds)
	create = create[:min(len(create), burstReplicas)]
	del = del[:min(len(del), burstReplicas)]
	delKeys := make([]string, len(del))
	for i, p := range del {
		delKeys[i] = podKey(p)
	}
	c.expectations.Set(key, len(create), delKeys)
	logger.V(4).Info("Syncing daemon pods", "daemonSet", key, "create", len(create), "delete", len(del))

	template := podTemplate(ds, hash)
	created, createErr := slowStartBatch(len(create), func(i int) error {
		return c.createPod(ctx, ds, template, create[i])
	})
	for i := created; i < len(create); i++ {
		c.expectations.CreationObserved(key) // never going to be seen
	}
	var errs []error
	if !apierrors.HasStatusCause(createErr, corev1.NamespaceTerminatingCause) {
		errs = append(errs, createErr)
	}
	errCh := make(chan error, len(del))
	done := make(chan struct{}, len(del))
	for _, p := range del {
		go func(p *corev1.Pod) {
			defer func() { done <- struct{}{} }()
			err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err != nil {
				c.expectations.DeletionObserved(key, podKey(p))
				if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
					c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
					errCh <- err
				}
				return
			}
			c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", p.Name)
		}(p)
	}
	for range del {
		<-done
	}
	close(errCh)
	for err := range errCh {
		errs = append(errs, err)
	}
	return utilerrors.NewAggregate(errs)
}

func (c *Controller) createPod(ctx context.Context, ds *appsv1.DaemonSet, template *corev1.PodTemplateSpec, node string) error {
	t := template.DeepCopy()
	pinToNode(&t.Spec, node)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ds.Name + "-",
			Namespace:       ds.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Spec: t.Spec,
	}
	created, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return err
	}
	c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return nil
}

// slowStartBatch calls fn for 0..count-1 in batches of 1, 2, 4, ... and
// stops after a batch with a failure, so a create that cannot succeed
// (quota, admission) fails a few times, not count times. It returns the
// number of successful calls and the first error.
func slowStartBatch(count int, fn func(i int) error) (int, error) {
	successes, next := 0, 0
	for batch := min(count, 1); batch > 0; batch = min(2*batch, count-next) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		for i := next; i < next+batch; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if err := fn(i); err != nil {
					errCh <- err
				}
			}(i)
		}
		wg.Wait()
		next += batch
		successes += batch - len(errCh)
		if len(errCh) > 0 {
			return successes, <-errCh
		}
	}
	return successes, nil
}
