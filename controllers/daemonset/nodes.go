package daemonset

import (
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// templateGenerationLabel carries the deprecated template generation on
// pods, as upstream still writes it.
const (
	templateGenerationLabel      = "pod-template-generation"
	templateGenerationAnnotation = appsv1.DeprecatedTemplateGeneration
)

// defaultTolerations are the ones upstream adds to every DaemonSet pod, so
// that node problems do not evict or block it.
var defaultTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

var networkUnavailableToleration = corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable,
	Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// addDefaultTolerations adds the default tolerations the spec lacks.
func addDefaultTolerations(spec *corev1.PodSpec) {
	want := defaultTolerations
	if spec.HostNetwork {
		want = append(append([]corev1.Toleration(nil), want...), networkUnavailableToleration)
	}
	for _, t := range want {
		found := false
		for i := range spec.Tolerations {
			if spec.Tolerations[i].MatchToleration(&t) {
				found = true
				break
			}
		}
		if !found {
			spec.Tolerations = append(spec.Tolerations, t)
		}
	}
}

// templateGeneration reads the deprecated annotation (nil when absent or
// malformed; the hash alone then identifies updated pods).
func templateGeneration(ds *appsv1.DaemonSet) *int64 {
	s, ok := ds.Annotations[templateGenerationAnnotation]
	if !ok {
		return nil
	}
	g, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil
	}
	return &g
}

// podTemplate is the template pods of hash are created from: labels for
// the revision, default tolerations.
func podTemplate(ds *appsv1.DaemonSet, hash string) *corev1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	addDefaultTolerations(&t.Spec)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if g := templateGeneration(ds); g != nil {
		t.Labels[templateGenerationLabel] = strconv.FormatInt(*g, 10)
	}
	if hash != "" {
		t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	return t
}

// pinToNode replaces the required node affinity with matchFields
// metadata.name=node, as upstream does: the DaemonSet controller already
// checked the template's own affinity, and the scheduler binds the pod.
func pinToNode(spec *corev1.PodSpec, node string) {
	sel := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{
		Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = sel
}

// targetNode is the node a daemon pod is for: its nodeName once bound,
// else the node its affinity pins it to.
func targetNode(pod *corev1.Pod) string {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == metav1.ObjectNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// shouldRun decides, as upstream's NodeShouldRunDaemonPod, whether a new
// daemon pod belongs on node (run) and whether one already there may stay
// (keep): a NoSchedule taint stops new pods only, a NoExecute one both.
func shouldRun(node *corev1.Node, ds *appsv1.DaemonSet) (run, keep bool) {
	spec := ds.Spec.Template.Spec.DeepCopy()
	addDefaultTolerations(spec)
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return false, false
	}
	if !matchesNodeSelector(spec, node) {
		return false, false
	}
	keep = true
	run = true
	for i := range node.Spec.Taints {
		t := &node.Spec.Taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if tolerated(spec.Tolerations, t) {
			continue
		}
		run = false
		if t.Effect == corev1.TaintEffectNoExecute {
			keep = false
		}
	}
	return run, keep
}

func tolerated(tols []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(klog.Background(), taint, true) {
			return true
		}
	}
	return false
}

// matchesNodeSelector applies nodeSelector and required node affinity.
func matchesNodeSelector(spec *corev1.PodSpec, node *corev1.Node) bool {
	for k, v := range spec.NodeSelector {
		if lv, ok := node.Labels[k]; !ok || lv != v {
			return false
		}
	}
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	// Terms are ORed, requirements within a term ANDed; an empty term
	// matches nothing.
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
			continue
		}
		ok := true
		for i := range term.MatchExpressions {
			r := &term.MatchExpressions[i]
			v, present := node.Labels[r.Key]
			ok = ok && requirementMatches(r, v, present)
		}
		for i := range term.MatchFields {
			r := &term.MatchFields[i]
			ok = ok && r.Key == metav1.ObjectNameField && requirementMatches(r, node.Name, true)
		}
		if ok {
			return true
		}
	}
	return false
}

func requirementMatches(r *corev1.NodeSelectorRequirement, v string, present bool) bool {
	in := false
	for _, x := range r.Values {
		in = in || x == v
	}
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return present && in
	case corev1.NodeSelectorOpNotIn:
		return !present || !in
	case corev1.NodeSelectorOpExists:
		return present
	case corev1.NodeSelectorOpDoesNotExist:
		return !present
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !present || len(r.Values) != 1 {
			return false
		}
		lv, err1 := strconv.ParseInt(v, 10, 64)
		rv, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == corev1.NodeSelectorOpGt {
			return lv > rv
		}
		return lv < rv
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podAvailable: ready for at least minReadySeconds.
func podAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return minReadySeconds == 0 || !c.LastTransitionTime.IsZero() &&
				!c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).After(now)
		}
	}
	return false
}

// isUpdated reports whether a pod runs the current template.
func isUpdated(pod *corev1.Pod, hash string, generation *int64) bool {
	if hash != "" && pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
		return true
	}
	return generation != nil && pod.Labels[templateGenerationLabel] == strconv.FormatInt(*generation, 10)
}
