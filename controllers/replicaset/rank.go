package replicaset

import (
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// deletionCostAnnotation lets users steer scale-down (upstream's
// controller.kubernetes.io/pod-deletion-cost): lower cost goes first.
const deletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// podsToDelete picks the n pods that hurt least to delete, in upstream's
// order (ActivePodsWithRanks with exact, not logarithmic, time buckets).
func podsToDelete(pods []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	ranked := rankedPods{pods: append([]*corev1.Pod(nil), pods...), rank: make([]int, len(pods))}
	// A pod sharing its node with more siblings costs less availability.
	perNode := map[string]int{}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			perNode[p.Spec.NodeName]++
		}
	}
	for i, p := range ranked.pods {
		if p.Spec.NodeName != "" {
			ranked.rank[i] = perNode[p.Spec.NodeName]
		}
	}
	sort.Stable(ranked)
	return ranked.pods[:n]
}

type rankedPods struct {
	pods []*corev1.Pod
	rank []int
}

func (r rankedPods) Len() int { return len(r.pods) }

func (r rankedPods) Swap(i, j int) {
	r.pods[i], r.pods[j] = r.pods[j], r.pods[i]
	r.rank[i], r.rank[j] = r.rank[j], r.rank[i]
}

var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// Less reports whether pod i should be deleted before pod j.
func (r rankedPods) Less(i, j int) bool {
	a, b := r.pods[i], r.pods[j]
	// 1. unscheduled < scheduled
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	// 2. Pending < Unknown < Running
	if pa, pb := phaseOrder[a.Status.Phase], phaseOrder[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	// 3. not ready < ready
	if ra, rb := podReady(a), podReady(b); ra != rb {
		return !ra
	}
	// 4. lower deletion cost < higher
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	// 5. doubled up < alone on its node
	if r.rank[i] != r.rank[j] {
		return r.rank[i] > r.rank[j]
	}
	// 6. ready for less time < ready for longer
	if podReady(a) && podReady(b) {
		ta, tb := readyTime(a), readyTime(b)
		if !ta.Equal(&tb) {
			return afterOrZero(ta, tb)
		}
	}
	// 7. more restarts < fewer
	if ma, mb := maxRestarts(a), maxRestarts(b); ma != mb {
		return ma > mb
	}
	// 8. newer < older
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return afterOrZero(a.CreationTimestamp, b.CreationTimestamp)
	}
	return false
}

// afterOrZero orders a zero time first, then the later time.
func afterOrZero(a, b metav1.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b.Time)
}

func deletionCost(p *corev1.Pod) int32 {
	v, err := strconv.ParseInt(p.Annotations[deletionCostAnnotation], 10, 32)
	if err != nil {
		return 0
	}
	return int32(v)
}

func maxRestarts(p *corev1.Pod) int32 {
	m := int32(0)
	for _, s := range p.Status.ContainerStatuses {
		m = max(m, s.RestartCount)
	}
	return m
}

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

func readyTime(p *corev1.Pod) metav1.Time {
	if c := readyCondition(p); c != nil && c.Status == corev1.ConditionTrue {
		return c.LastTransitionTime
	}
	return metav1.Time{}
}

// podAvailable reports whether the pod has been ready for minReadySeconds.
func podAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	d := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(d).Before(now)
}
