package validation

import (
	"fmt"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validateLease(l *coordinationv1.Lease) field.ErrorList {
	var errs field.ErrorList
	if d := l.Spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	errs = append(errs, validateNonnegativePtr(l.Spec.LeaseTransitions, specPath.Child("leaseTransitions"))...)
	if l.Spec.PreferredHolder != nil && *l.Spec.PreferredHolder != "" && l.Spec.Strategy == nil {
		errs = append(errs, field.Forbidden(specPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

// validateScaleTarget checks the reference an autoscaler scales.
func validateScaleTarget(kind, name string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	} else {
		errs = append(errs, invalidEach(p.Child("kind"), kind, path.IsValidPathSegmentName(kind))...)
	}
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, invalidEach(p.Child("name"), name, path.IsValidPathSegmentName(name))...)
	}
	return errs
}

// validateReplicaBounds: corral has no scale-to-zero, so min is at least 1.
func validateReplicaBounds(minReplicas *int32, maxReplicas int32) field.ErrorList {
	var errs field.ErrorList
	lo := int32(1)
	if minReplicas != nil {
		lo = *minReplicas
		if lo < 1 {
			errs = append(errs, field.Invalid(specPath.Child("minReplicas"), lo, "must be greater than or equal to 1"))
		}
	}
	if maxReplicas < lo {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), maxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	return errs
}

func validateHPAv1(h *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	errs := validateScaleTarget(h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name, specPath.Child("scaleTargetRef"))
	errs = append(errs, validateReplicaBounds(h.Spec.MinReplicas, h.Spec.MaxReplicas)...)
	if u := h.Spec.TargetCPUUtilizationPercentage; u != nil && *u < 1 {
		errs = append(errs, field.Invalid(specPath.Child("targetCPUUtilizationPercentage"), *u, "must be greater than or equal to 1"))
	}
	return errs
}

var (
	metricSourceTypes = []autoscalingv2.MetricSourceType{autoscalingv2.ObjectMetricSourceType, autoscalingv2.PodsMetricSourceType,
		autoscalingv2.ResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType, autoscalingv2.ContainerResourceMetricSourceType}
	metricTargetTypes  = []autoscalingv2.MetricTargetType{autoscalingv2.UtilizationMetricType, autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType}
	scalingPolicyTypes = []autoscalingv2.HPAScalingPolicyType{autoscalingv2.PodsScalingPolicy, autoscalingv2.PercentScalingPolicy}
	selectPolicies     = []autoscalingv2.ScalingPolicySelect{autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect, autoscalingv2.DisabledPolicySelect}
)

func validateHPAv2(h *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	errs := validateScaleTarget(h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name, specPath.Child("scaleTargetRef"))
	errs = append(errs, validateReplicaBounds(h.Spec.MinReplicas, h.Spec.MaxReplicas)...)
	for i, m := range h.Spec.Metrics {
		errs = append(errs, validateMetric(m, specPath.Child("metrics").Index(i))...)
	}
	if b := h.Spec.Behavior; b != nil {
		errs = append(errs, validateScalingRules(b.ScaleUp, specPath.Child("behavior", "scaleUp"))...)
		errs = append(errs, validateScalingRules(b.ScaleDown, specPath.Child("behavior", "scaleDown"))...)
	}
	return errs
}

// metricSourceFields names the MetricSpec field each metric type uses.
var metricSourceFields = map[autoscalingv2.MetricSourceType]string{
	autoscalingv2.ObjectMetricSourceType: "object", autoscalingv2.PodsMetricSourceType: "pods",
	autoscalingv2.ResourceMetricSourceType: "resource", autoscalingv2.ExternalMetricSourceType: "external",
	autoscalingv2.ContainerResourceMetricSourceType: "containerResource",
}

func validateMetric(m autoscalingv2.MetricSpec, p *field.Path) field.ErrorList {
	errs := validateRequiredEnum(m.Type, p.Child("type"), metricSourceTypes...)
	// The source matching the type, and only it, must be set.
	set := setSources(&m)
	if want, ok := metricSourceFields[m.Type]; ok && (len(set) != 1 || set[0] != want) {
		errs = append(errs, field.Required(p.Child(want), "must populate information for the given metric source"))
	}
	var target *autoscalingv2.MetricTarget
	switch {
	case m.Resource != nil:
		target = &m.Resource.Target
	case m.ContainerResource != nil:
		target = &m.ContainerResource.Target
		if m.ContainerResource.Container == "" {
			errs = append(errs, field.Required(p.Child("containerResource", "container"), ""))
		}
	case m.Pods != nil:
		target = &m.Pods.Target
	case m.Object != nil:
		target = &m.Object.Target
	case m.External != nil:
		target = &m.External.Target
	}
	if target != nil && len(set) == 1 {
		tp := p.Child(set[0], "target")
		errs = append(errs, validateRequiredEnum(target.Type, tp.Child("type"), metricTargetTypes...)...)
		if u := target.AverageUtilization; u != nil && *u <= 0 {
			errs = append(errs, field.Invalid(tp.Child("averageUtilization"), *u, "must be greater than 0"))
		}
	}
	return errs
}

// maxStabilizationWindow and maxPolicyPeriod are upstream's bounds: an hour
// of history and half an hour per policy period.
const (
	maxStabilizationWindow = 3600
	maxPolicyPeriod        = 1800
)

func validateScalingRules(r *autoscalingv2.HPAScalingRules, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > maxStabilizationWindow) {
		errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w, fmt.Sprintf("must be less than or equal to %d", maxStabilizationWindow)))
	}
	if r.SelectPolicy != nil {
		errs = append(errs, validateEnum(*r.SelectPolicy, p.Child("selectPolicy"), selectPolicies...)...)
	}
	for i, pol := range r.Policies {
		pp := p.Child("policies").Index(i)
		errs = append(errs, validateRequiredEnum(pol.Type, pp.Child("type"), scalingPolicyTypes...)...)
		if pol.Value <= 0 {
			errs = append(errs, field.Invalid(pp.Child("value"), pol.Value, "must be greater than zero"))
		}
		if pol.PeriodSeconds <= 0 || pol.PeriodSeconds > maxPolicyPeriod {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), pol.PeriodSeconds, fmt.Sprintf("must be greater than zero and less than or equal to %d", maxPolicyPeriod)))
		}
	}
	return errs
}

var evictionPolicies = []policyv1.UnhealthyPodEvictionPolicyType{policyv1.IfHealthyBudget, policyv1.AlwaysAllow}

func validatePDB(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	spec := &pdb.Spec
	var errs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(specPath, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	errs = append(errs, validateIntOrPercent(spec.MinAvailable, specPath.Child("minAvailable"), true)...)
	errs = append(errs, validateIntOrPercent(spec.MaxUnavailable, specPath.Child("maxUnavailable"), true)...)
	errs = append(errs, validateSelector(spec.Selector, specPath.Child("selector"), "")...)
	if spec.UnhealthyPodEvictionPolicy != nil {
		errs = append(errs, validateEnum(*spec.UnhealthyPodEvictionPolicy, specPath.Child("unhealthyPodEvictionPolicy"), evictionPolicies...)...)
	}
	return errs
}

// Priorities above this are reserved for system-critical classes.
const (
	highestUserDefinablePriority = 1000000000
	systemPriorityPrefix         = "system-"
)

var preemptionPolicies = []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever}

func validatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	var errs field.ErrorList
	vp := field.NewPath("value")
	if strings.HasPrefix(pc.Name, systemPriorityPrefix) {
		// Only the built-in system classes may use the prefix.
		if want, ok := systemPriorities[pc.Name]; !ok {
			errs = append(errs, field.Forbidden(metaPath.Child("name"), "priority class names with '"+systemPriorityPrefix+"' prefix are reserved for system use only"))
		} else if pc.Value != want {
			errs = append(errs, field.Forbidden(vp, fmt.Sprintf("value of %s PriorityClass must be %d", pc.Name, want)))
		}
	} else if pc.Value > highestUserDefinablePriority {
		errs = append(errs, field.Forbidden(vp, fmt.Sprintf("maximum allowed value of a user defined priority is %d", highestUserDefinablePriority)))
	}
	if pc.PreemptionPolicy != nil {
		errs = append(errs, validateEnum(*pc.PreemptionPolicy, field.NewPath("preemptionPolicy"), preemptionPolicies...)...)
	}
	return errs
}

var systemPriorities = map[string]int32{
	"system-node-critical":    2*highestUserDefinablePriority + 1000,
	"system-cluster-critical": 2 * highestUserDefinablePriority,
}

func validatePriorityClassUpdate(pc, old *schedulingv1.PriorityClass) field.ErrorList {
	var errs field.ErrorList
	if pc.Value != old.Value {
		errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	errs = append(errs, immutable(pc.PreemptionPolicy, old.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	return errs
}

var (
	scReclaimPolicies  = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain}
	volumeBindingModes = []storagev1.VolumeBindingMode{storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer}
)

// Upstream caps StorageClass parameters so objects stay small.
const (
	maxProvisionerParameterSize = 256 * (1 << 10)
	maxProvisionerParameterLen  = 512
)

func validateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	pp := field.NewPath("provisioner")
	errs := requiredName(sc.Provisioner, pp, validateQualifiedName)
	parp := field.NewPath("parameters")
	size := 0
	for k, v := range sc.Parameters {
		if k == "" {
			errs = append(errs, field.Invalid(parp, k, "field can not be empty."))
		}
		size += len(k) + len(v)
	}
	if len(sc.Parameters) > maxProvisionerParameterLen {
		errs = append(errs, field.TooMany(parp, len(sc.Parameters), maxProvisionerParameterLen))
	}
	if size > maxProvisionerParameterSize {
		errs = append(errs, field.TooLong(parp, "", maxProvisionerParameterSize))
	}
	if sc.ReclaimPolicy != nil {
		errs = append(errs, validateEnum(*sc.ReclaimPolicy, field.NewPath("reclaimPolicy"), scReclaimPolicies...)...)
	}
	if sc.VolumeBindingMode != nil {
		errs = append(errs, validateEnum(*sc.VolumeBindingMode, field.NewPath("volumeBindingMode"), volumeBindingModes...)...)
	}
	for i, t := range sc.AllowedTopologies {
		tp := field.NewPath("allowedTopologies").Index(i).Child("matchLabelExpressions")
		if len(t.MatchLabelExpressions) == 0 {
			errs = append(errs, field.Required(tp, "must have at least one label expression"))
		}
		for j, e := range t.MatchLabelExpressions {
			errs = append(errs, validateQualifiedName(e.Key, tp.Index(j).Child("key"))...)
			if len(e.Values) == 0 {
				errs = append(errs, field.Required(tp.Index(j).Child("values"), "must have at least one value"))
			}
		}
	}
	return errs
}

// validateStorageClassUpdate: volumes already provisioned from a class were
// made with its parameters, so they may not change underneath them.
func validateStorageClassUpdate(sc, old *storagev1.StorageClass) field.ErrorList {
	var errs field.ErrorList
	if len(immutable(sc.Parameters, old.Parameters, nil)) > 0 {
		errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	if sc.Provisioner != old.Provisioner {
		errs = append(errs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
	}
	if len(immutable(sc.ReclaimPolicy, old.ReclaimPolicy, nil)) > 0 {
		errs = append(errs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
	}
	errs = append(errs, immutable(sc.VolumeBindingMode, old.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
	return errs
}

// Length limits of events.k8s.io fields, as upstream.
const (
	maxEventNoteLength  = 1024
	maxEventFieldLength = 128
)

func validateEventsEvent(e *eventsv1.Event) field.ErrorList {
	var errs field.ErrorList
	if e.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	errs = append(errs, validateRequiredEnum(e.Type, field.NewPath("type"), corev1.EventTypeNormal, corev1.EventTypeWarning)...)
	if e.ReportingController == "" {
		errs = append(errs, field.Required(field.NewPath("reportingController"), ""))
	} else {
		errs = append(errs, validateQualifiedName(e.ReportingController, field.NewPath("reportingController"))...)
	}
	for name, v := range map[string]string{"reportingInstance": e.ReportingInstance, "action": e.Action, "reason": e.Reason} {
		fp := field.NewPath(name)
		switch {
		case v == "":
			errs = append(errs, field.Required(fp, ""))
		case len(v) > maxEventFieldLength:
			errs = append(errs, field.TooLong(fp, "", maxEventFieldLength))
		}
	}
	if len(e.Note) > maxEventNoteLength {
		errs = append(errs, field.TooLong(field.NewPath("note"), "", maxEventNoteLength))
	}
	if ns := e.Regarding.Namespace; ns != "" && ns != e.Namespace {
		errs = append(errs, field.Invalid(field.NewPath("regarding", "namespace"), ns, "does not match event.namespace"))
	}
	return errs
}
