package disruption

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// sync computes and writes the status of one budget. The duration asks
// for another look when the oldest disruptedPods entry expires.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil // not a key of ours; retrying cannot help
	}
	pdb, err := c.pdbLister.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	recheck, err := c.trySync(ctx, pdb)
	switch {
	case err == nil:
		return recheck, nil
	case apierrors.IsConflict(err):
		// Our copy was stale (an eviction wrote meanwhile): the retry
		// reads the new one; nothing is wrong with the budget.
		return 0, err
	default:
		klog.FromContext(ctx).Error(err, "Failed to sync PodDisruptionBudget", "podDisruptionBudget", klog.KObj(pdb))
		return 0, c.failSafe(ctx, pdb, err)
	}
}

func (c *Controller) trySync(ctx context.Context, pdb *policyv1.PodDisruptionBudget) (time.Duration, error) {
	pods, err := c.podsFor(pdb)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "NoPods", "Failed to get pods: %v", err)
		return 0, err
	}
	if len(pods) == 0 {
		c.recorder.Event(pdb, corev1.EventTypeNormal, "NoPods", "No matching pods found")
	}
	expected, desired, unmanaged, err := c.expectedPods(pdb, pods)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed", "Failed to calculate the number of expected pods: %v", err)
		return 0, err
	}
	if len(unmanaged) > 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "UnmanagedPods", "Pods selected by this PodDisruptionBudget (selector: %v) "+
			"were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in "+
			"undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.",
			metav1.FormatLabelSelector(pdb.Spec.Selector))
	}
	now := c.clock.Now()
	disrupted, recheck := c.disruptedPods(pods, pdb, now)
	healthy := countHealthy(pods, disrupted, now)
	if err := c.writeStatus(ctx, pdb, healthy, desired, expected, disrupted); err != nil {
		return 0, err
	}
	if recheck.IsZero() {
		return 0, nil
	}
	// A little after the expiry, so that the entry is surely past it.
	return recheck.Sub(now) + time.Second, nil
}

// podsFor lists the budget's pods: an empty selector matches every pod of
// the namespace, a missing one none (policy/v1 semantics).
func (c *Controller) podsFor(pdb *policyv1.PodDisruptionBudget) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return nil, err
	}
	return c.podLister.Pods(pdb.Namespace).List(sel)
}

// expectedPods returns expectedPods, desiredHealthy and the pods without a
// controller (which only the scale-based computations leave out).
func (c *Controller) expectedPods(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (expected, desired int32, unmanaged []string, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		if expected, unmanaged, err = c.expectedScale(pods); err != nil {
			return 0, 0, nil, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		desired = max(expected-int32(maxUnavailable), 0)
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		desired = pdb.Spec.MinAvailable.IntVal
		expected = int32(len(pods))
	case pdb.Spec.MinAvailable != nil:
		if expected, unmanaged, err = c.expectedScale(pods); err != nil {
			return 0, 0, nil, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		desired = int32(minAvailable)
	}
	return expected, desired, unmanaged, nil
}

// expectedScale sums the scale of the controllers of the pods, each
// controller once. A pod whose controller is not a workload with a scale
// makes the budget impossible to compute.
func (c *Controller) expectedScale(pods []*corev1.Pod) (int32, []string, error) {
	scales := map[types.UID]int32{}
	var unmanaged []string
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		if _, seen := scales[ref.UID]; seen {
			continue
		}
		uid, scale, found, err := c.scaleOf(pod.Namespace, ref)
		if err != nil {
			return 0, nil, err
		}
		if !found {
			return 0, nil, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
		// Keyed by the pod's controller too, so its siblings skip the lookup.
		scales[ref.UID] = 0
		scales[uid] = scale
	}
	var sum int32
	for _, n := range scales {
		sum += n
	}
	return sum, unmanaged, nil
}

// scaleOf finds the workload that sets the number of pods owned by ref:
// the Deployment of a ReplicaSet it controls, else the ReplicaSet or
// StatefulSet itself. The UID returned identifies that workload.
func (c *Controller) scaleOf(ns string, ref *metav1.OwnerReference) (types.UID, int32, bool, error) {
	if ok, err := isApps(ref); !ok || err != nil {
		return "", 0, false, err
	}
	switch ref.Kind {
	case "ReplicaSet":
		rs, err := c.rsLister.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return "", 0, false, nil // gone or re-created: not the pod's controller
		}
		if dref := metav1.GetControllerOf(rs); dref != nil && dref.Kind == "Deployment" {
			if ok, err := isApps(dref); err != nil {
				return "", 0, false, err
			} else if ok {
				if d, err := c.dLister.Deployments(ns).Get(dref.Name); err == nil && d.UID == dref.UID {
					return d.UID, replicas(d.Spec.Replicas), true, nil
				}
			}
		}
		// A ReplicaSet on its own, or one whose Deployment is gone.
		return rs.UID, replicas(rs.Spec.Replicas), true, nil
	case "Deployment":
		d, err := c.dLister.Deployments(ns).Get(ref.Name)
		if err != nil || d.UID != ref.UID {
			return "", 0, false, nil
		}
		return d.UID, replicas(d.Spec.Replicas), true, nil
	case "StatefulSet":
		ss, err := c.ssLister.StatefulSets(ns).Get(ref.Name)
		if err != nil || ss.UID != ref.UID {
			return "", 0, false, nil
		}
		return ss.UID, replicas(ss.Spec.Replicas), true, nil
	}
	return "", 0, false, nil
}

// isApps reports whether ref points into the apps (or old extensions) group.
func isApps(ref *metav1.OwnerReference) (bool, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return false, err
	}
	return gv.Group == "apps" || gv.Group == "extensions", nil
}

// disruptedPods keeps the entries of pods that were evicted but are not
// yet being deleted, for DeletionTimeout; it returns the earliest expiry
// of those kept (zero when none).
func (c *Controller) disruptedPods(pods []*corev1.Pod, pdb *policyv1.PodDisruptionBudget, now time.Time) (map[string]metav1.Time, time.Time) {
	out := map[string]metav1.Time{}
	var recheck time.Time
	if len(pdb.Status.DisruptedPods) == 0 {
		return out, recheck
	}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue // the deletion the entry waited for has begun
		}
		at, ok := pdb.Status.DisruptedPods[pod.Name]
		if !ok {
			continue
		}
		expiry := at.Add(DeletionTimeout)
		if expiry.Before(now) {
			c.recorder.Eventf(pod, corev1.EventTypeWarning, "NotDeleted", "Pod was expected by PDB %s/%s to be deleted but it wasn't", pdb.Namespace, pdb.Name)
			continue
		}
		if recheck.IsZero() || expiry.Before(recheck) {
			recheck = expiry
		}
		out[pod.Name] = at
	}
	return out, recheck
}

// countHealthy counts Ready pods that are not going away.
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time, now time.Time) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if at, ok := disrupted[pod.Name]; ok && at.Add(DeletionTimeout).After(now) {
			continue
		}
		if podReady(pod) {
			n++
		}
	}
	return n
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// writeStatus writes the computed status unless it is already there.
func (c *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, healthy, desired, expected int32, disrupted map[string]metav1.Time) error {
	allowed := healthy - desired
	// A budget that selects nothing yet stays closed: its first pods may
	// appear before this controller has counted them.
	if expected <= 0 || allowed <= 0 {
		allowed = 0
	}
	st := &pdb.Status
	if st.CurrentHealthy == healthy && st.DesiredHealthy == desired && st.ExpectedPods == expected &&
		st.DisruptionsAllowed == allowed && equality.Semantic.DeepEqual(st.DisruptedPods, disrupted) &&
		st.ObservedGeneration == pdb.Generation && conditionUpToDate(pdb) {
		return nil
	}
	fresh := pdb.DeepCopy()
	fresh.Status = policyv1.PodDisruptionBudgetStatus{
		CurrentHealthy:     healthy,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
		DisruptionsAllowed: allowed,
		DisruptedPods:      disrupted,
		ObservedGeneration: pdb.Generation,
		Conditions:         fresh.Status.Conditions,
	}
	setAllowedCondition(fresh)
	_, err := c.client.PolicyV1().PodDisruptionBudgets(fresh.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
	return err
}

// setAllowedCondition sets DisruptionAllowed from disruptionsAllowed.
func setAllowedCondition(pdb *policyv1.PodDisruptionBudget) {
	cond := metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
		Reason: policyv1.InsufficientPodsReason, ObservedGeneration: pdb.Status.ObservedGeneration}
	if pdb.Status.DisruptionsAllowed > 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, policyv1.SufficientPodsReason
	}
	if pdb.Status.Conditions == nil {
		pdb.Status.Conditions = []metav1.Condition{}
	}
	apimeta.SetStatusCondition(&pdb.Status.Conditions, cond)
}

func conditionUpToDate(pdb *policyv1.PodDisruptionBudget) bool {
	cond := apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
	if cond == nil || pdb.Status.ObservedGeneration != pdb.Generation {
		return false
	}
	if pdb.Status.DisruptionsAllowed > 0 {
		return cond.Status == metav1.ConditionTrue && cond.Reason == policyv1.SufficientPodsReason
	}
	return cond.Status == metav1.ConditionFalse && cond.Reason == policyv1.InsufficientPodsReason
}

// failSafe closes a budget whose status could not be computed, so that
// evictions stop until it can; it returns syncErr for a retry.
func (c *Controller) failSafe(ctx context.Context, pdb *policyv1.PodDisruptionBudget, syncErr error) error {
	fresh := pdb.DeepCopy()
	fresh.Status.DisruptionsAllowed = 0
	if fresh.Status.Conditions == nil {
		fresh.Status.Conditions = []metav1.Condition{}
	}
	apimeta.SetStatusCondition(&fresh.Status.Conditions, metav1.Condition{Type: policyv1.DisruptionAllowedCondition,
		Status: metav1.ConditionFalse, Reason: policyv1.SyncFailedReason, Message: syncErr.Error(),
		ObservedGeneration: fresh.Status.ObservedGeneration})
	if _, err := c.client.PolicyV1().PodDisruptionBudgets(fresh.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		return err
	}
	return syncErr
}
