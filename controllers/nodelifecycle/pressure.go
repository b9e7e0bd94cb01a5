package nodelifecycle

import (
	corev1 "k8s.io/api/core/v1"
)

// pressureTaints are upstream's TaintNodesByCondition for the agents'
// pressure conditions: a condition that is True puts its NoSchedule taint
// on the node, so the scheduler's taint filter keeps new pods off it
// (DaemonSet pods tolerate these taints); False or Unknown removes it.
var pressureTaints = [...]struct {
	cond corev1.NodeConditionType
	key  string
}{
	{corev1.NodeMemoryPressure, corev1.TaintNodeMemoryPressure},
	{corev1.NodeDiskPressure, corev1.TaintNodeDiskPressure},
	{corev1.NodePIDPressure, corev1.TaintNodePIDPressure},
}

// isPressureTaint reports whether t is one of the pressure taints (only
// their NoSchedule form is the controller's).
func isPressureTaint(t corev1.Taint) bool {
	if t.Effect != corev1.TaintEffectNoSchedule {
		return false
	}
	for _, p := range pressureTaints {
		if t.Key == p.key {
			return true
		}
	}
	return false
}

// wantedPressure are the keys of the pressure taints the node's conditions
// call for.
func wantedPressure(n *corev1.Node) []string {
	var out []string
	for _, p := range pressureTaints {
		for _, c := range n.Status.Conditions {
			if c.Type == p.cond && c.Status == corev1.ConditionTrue {
				out = append(out, p.key)
				break
			}
		}
	}
	return out
}

// pressureMatches reports whether the node carries exactly the pressure
// taints its conditions call for.
func pressureMatches(n *corev1.Node) bool {
	want := wantedPressure(n)
	have := 0
	for _, t := range n.Spec.Taints {
		if !isPressureTaint(t) {
			continue
		}
		have++
		if !contains(want, t.Key) {
			return false
		}
	}
	return have == len(want)
}

func contains(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}
