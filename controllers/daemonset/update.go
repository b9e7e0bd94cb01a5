package daemonset

import (
	"context"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// allowsSurge reports whether a rolling update may start the new pod on a
// node before the old one goes.
func allowsSurge(ds *appsv1.DaemonSet) bool {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxSurge == nil {
		return false
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, 100, true)
	return err == nil && n > 0
}

// updateBudget scales maxSurge and maxUnavailable to the desired count
// (rounding up, as upstream); both zero falls back to one unavailable.
func updateBudget(ds *appsv1.DaemonSet, desired int) (maxSurge, maxUnavailable int) {
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			maxSurge, _ = intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, desired, true)
		}
		if ru.MaxUnavailable != nil {
			maxUnavailable, _ = intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, true)
		}
	}
	if maxSurge > 0 {
		maxUnavailable = 0 // validation forbids both; surge wins
	}
	if desired > 0 && maxSurge == 0 && maxUnavailable == 0 {
		maxUnavailable = 1
	}
	return maxSurge, maxUnavailable
}

// updatedAndOld finds the one up-to-date and the one old live pod of a
// node; ok is false when there are several of either (manage cleans up).
func updatedAndOld(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) (updated, old *corev1.Pod, ok bool) {
	generation := templateGeneration(ds)
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if isUpdated(p, hash, generation) {
			if updated != nil {
				return nil, nil, false
			}
			updated = p
		} else {
			if old != nil {
				return nil, nil, false
			}
			old = p
		}
	}
	return updated, old, true
}

// rollingUpdate replaces old pods within the update budget. Without surge
// old pods are deleted (unavailable ones first, free of budget) and manage
// creates their successors; with surge new pods are created next to old
// ones and the old ones deleted once the new ones are available.
func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node,
	nodePods map[string][]*corev1.Pod, hash string) error {
	now := c.clock.Now()
	candidates := map[string][]*corev1.Pod{}
	byName := map[string]*corev1.Node{}
	for _, n := range nodes {
		byName[n.Name] = n
		if run, _ := shouldRun(n, ds); run {
			candidates[n.Name] = nodePods[n.Name]
		}
	}
	desired := len(candidates)
	for name, pods := range nodePods {
		if _, ok := candidates[name]; !ok && byName[name] != nil {
			candidates[name] = pods
		}
	}
	names := make([]string, 0, len(candidates))
	for n := range candidates {
		names = append(names, n)
	}
	sort.Strings(names) // a stable order makes the update predictable
	maxSurge, maxUnavailable := updateBudget(ds, desired)

	if maxSurge == 0 {
		unavailable := 0
		var free, budgeted []*corev1.Pod
		for _, name := range names {
			updated, old, ok := updatedAndOld(ds, candidates[name], hash)
			switch {
			case !ok:
				unavailable++
			case (updated == nil) == (old == nil):
				unavailable++ // nothing yet, or both: manage acts first
			case updated != nil:
				if !podAvailable(updated, ds.Spec.MinReadySeconds, now) {
					unavailable++
				}
			case !podAvailable(old, ds.Spec.MinReadySeconds, now):
				free = append(free, old) // replacing it costs no availability
			default:
				budgeted = append(budgeted, old)
			}
		}
		room := min(max(maxUnavailable-unavailable, 0), len(budgeted))
		return c.syncNodes(ctx, ds, append(free, budgeted[:room]...), nil, hash)
	}

	surged := 0
	var del []*corev1.Pod
	var allowed, candidateNodes []string
	for _, name := range names {
		updated, old, ok := updatedAndOld(ds, candidates[name], hash)
		switch {
		case !ok:
			surged++
		case old == nil:
			// manage creates what is missing
		case updated == nil:
			if !podAvailable(old, ds.Spec.MinReadySeconds, now) {
				if run, _ := shouldRun(byName[name], ds); !run {
					del = append(del, old)
					continue
				}
				allowed = append(allowed, name) // nothing to lose here
				continue
			}
			candidateNodes = append(candidateNodes, name)
		default:
			if !podAvailable(updated, ds.Spec.MinReadySeconds, now) {
				surged++ // waiting for the new pod
				continue
			}
			del = append(del, old)
		}
	}
	room := min(max(maxSurge-surged, 0), len(candidateNodes))
	return c.syncNodes(ctx, ds, del, append(allowed, candidateNodes[:room]...), hash)
}
