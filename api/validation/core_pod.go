package validation

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var allRestartPolicies = []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}

// podSpecOpts says how the owner constrains a pod spec.
type podSpecOpts struct {
	// restartPolicies the owner accepts (controllers: Always; Jobs: not).
	restartPolicies []corev1.RestartPolicy
}

func validatePod(pod *corev1.Pod) field.ErrorList {
	return validatePodSpec(&pod.Spec, specPath, podSpecOpts{restartPolicies: allRestartPolicies})
}

// validatePodTemplateSpec validates a workload's pod template.
func validatePodTemplateSpec(t *corev1.PodTemplateSpec, p *field.Path, opts podSpecOpts) field.ErrorList {
	errs := validateLabels(t.Labels, p.Child("metadata", "labels"))
	errs = append(errs, validateAnnotationsOnly(t.Annotations, p.Child("metadata", "annotations"))...)
	return append(errs, validatePodSpec(&t.Spec, p.Child("spec"), opts)...)
}

var supportedDNSPolicies = []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone}

func validatePodSpec(spec *corev1.PodSpec, p *field.Path, opts podSpecOpts) field.ErrorList {
	volumes, errs := validateVolumes(spec.Volumes, p.Child("volumes"))
	errs = append(errs, validateAllContainers(spec, volumes, p)...)
	errs = append(errs, validateRequiredEnum(spec.RestartPolicy, p.Child("restartPolicy"), opts.restartPolicies...)...)
	errs = append(errs, validateRequiredEnum(spec.DNSPolicy, p.Child("dnsPolicy"), supportedDNSPolicies...)...)
	errs = append(errs, validateDNSConfig(spec.DNSPolicy, spec.DNSConfig, p.Child("dnsConfig"))...)
	errs = append(errs, validateLabels(spec.NodeSelector, p.Child("nodeSelector"))...)
	if spec.ServiceAccountName != "" {
		errs = append(errs, validateDNS1123Subdomain(spec.ServiceAccountName, p.Child("serviceAccountName"))...)
	}
	if spec.NodeName != "" {
		errs = append(errs, validateDNS1123Subdomain(spec.NodeName, p.Child("nodeName"))...)
	}
	if spec.Hostname != "" {
		errs = append(errs, validateDNS1123Label(spec.Hostname, p.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, validateDNS1123Label(spec.Subdomain, p.Child("subdomain"))...)
	}
	for i, a := range spec.HostAliases {
		ap := p.Child("hostAliases").Index(i)
		errs = append(errs, validateIP(a.IP, ap.Child("ip"))...)
		for j, h := range a.Hostnames {
			errs = append(errs, validateDNS1123Subdomain(h, ap.Child("hostnames").Index(j))...)
		}
	}
	if spec.PriorityClassName != "" {
		errs = append(errs, validateDNS1123Subdomain(spec.PriorityClassName, p.Child("priorityClassName"))...)
	}
	if d := spec.ActiveDeadlineSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *d, validation.InclusiveRangeError(1, 1<<31-1)))
	}
	errs = append(errs, validateTolerations(spec.Tolerations, p.Child("tolerations"))...)
	errs = append(errs, validatePodSecurityContext(spec.SecurityContext, p.Child("securityContext"))...)
	errs = append(errs, validateTopologySpread(spec.TopologySpreadConstraints, p.Child("topologySpreadConstraints"))...)
	gates := duplicates{}
	for i, g := range spec.SchedulingGates {
		gp := p.Child("schedulingGates").Index(i).Child("name")
		errs = append(errs, validateQualifiedName(g.Name, gp)...)
		errs = append(errs, gates.check(g.Name, gp)...)
	}
	for i, s := range spec.ImagePullSecrets {
		if s.Name == "" {
			errs = append(errs, field.Required(p.Child("imagePullSecrets").Index(i).Child("name"), ""))
		}
	}
	if spec.Resources != nil {
		errs = append(errs, validateResources(spec.Resources, p.Child("resources"))...)
	}
	return errs
}

func validateDNSConfig(policy corev1.DNSPolicy, cfg *corev1.PodDNSConfig, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if policy == corev1.DNSNone {
		if cfg == nil {
			return field.ErrorList{field.Required(p, fmt.Sprintf("must provide `dnsConfig` when `dnsPolicy` is %s", corev1.DNSNone))}
		}
		if len(cfg.Nameservers) == 0 {
			errs = append(errs, field.Required(p.Child("nameservers"), fmt.Sprintf("must provide at least one DNS nameserver when `dnsPolicy` is %s", corev1.DNSNone)))
		}
	}
	if cfg == nil {
		return errs
	}
	if len(cfg.Nameservers) > 3 {
		errs = append(errs, field.Invalid(p.Child("nameservers"), cfg.Nameservers, "must not have more than 3 nameservers"))
	}
	for i, ns := range cfg.Nameservers {
		errs = append(errs, validateIP(ns, p.Child("nameservers").Index(i))...)
	}
	if len(cfg.Searches) > 32 {
		errs = append(errs, field.Invalid(p.Child("searches"), cfg.Searches, "must not have more than 32 search paths"))
	}
	for i, s := range cfg.Searches {
		errs = append(errs, validateDNS1123Subdomain(strings.TrimSuffix(s, "."), p.Child("searches").Index(i))...)
	}
	return errs
}

var (
	tolerationOperators = []corev1.TolerationOperator{corev1.TolerationOpExists, corev1.TolerationOpEqual}
	taintEffects        = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}
)

func validateTolerations(ts []corev1.Toleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range ts {
		ip := p.Index(i)
		if t.Key != "" {
			errs = append(errs, validateQualifiedName(t.Key, ip.Child("key"))...)
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(ip.Child("operator"), t.Operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(ip.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			errs = append(errs, invalidEach(ip.Child("value"), t.Value, validation.IsValidLabelValue(t.Value))...)
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(ip.Child("operator"), t, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(ip.Child("operator"), t.Operator, tolerationOperators))
		}
		if t.Effect != "" {
			errs = append(errs, validateEnum(t.Effect, ip.Child("effect"), taintEffects...)...)
		}
	}
	return errs
}

func validatePodSecurityContext(sc *corev1.PodSecurityContext, p *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.RunAsUser != nil {
		errs = append(errs, invalidEach(p.Child("runAsUser"), *sc.RunAsUser, validation.IsValidUserID(*sc.RunAsUser))...)
	}
	if sc.RunAsGroup != nil {
		errs = append(errs, invalidEach(p.Child("runAsGroup"), *sc.RunAsGroup, validation.IsValidGroupID(*sc.RunAsGroup))...)
	}
	if sc.FSGroup != nil {
		errs = append(errs, invalidEach(p.Child("fsGroup"), *sc.FSGroup, validation.IsValidGroupID(*sc.FSGroup))...)
	}
	for i, g := range sc.SupplementalGroups {
		errs = append(errs, invalidEach(p.Child("supplementalGroups").Index(i), g, validation.IsValidGroupID(g))...)
	}
	for i, s := range sc.Sysctls {
		if s.Name == "" {
			errs = append(errs, field.Required(p.Child("sysctls").Index(i).Child("name"), ""))
		}
	}
	return errs
}

var unsatisfiableActions = []corev1.UnsatisfiableConstraintAction{corev1.DoNotSchedule, corev1.ScheduleAnyway}

func validateTopologySpread(cs []corev1.TopologySpreadConstraint, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range cs {
		ip := p.Index(i)
		if c.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(ip.Child("maxSkew"), c.MaxSkew, "must be greater than zero"))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(ip.Child("topologyKey"), "can not be empty"))
		} else {
			errs = append(errs, validateQualifiedName(c.TopologyKey, ip.Child("topologyKey"))...)
		}
		errs = append(errs, validateEnum(c.WhenUnsatisfiable, ip.Child("whenUnsatisfiable"), unsatisfiableActions...)...)
		errs = append(errs, validateSelector(c.LabelSelector, ip.Child("labelSelector"), "")...)
	}
	return errs
}

// validatePodUpdate enforces upstream's rule that a pod's spec is fixed
// once created, except for a few fields the kubelet can act on in place.
func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	newSpec, oldSpec := &pod.Spec, &old.Spec
	if oldSpec.NodeName != "" && newSpec.NodeName != oldSpec.NodeName {
		errs = append(errs, field.Invalid(specPath.Child("nodeName"), newSpec.NodeName, "field is immutable once set"))
	}
	if d, od := newSpec.ActiveDeadlineSeconds, oldSpec.ActiveDeadlineSeconds; od != nil && (d == nil || *d > *od) {
		errs = append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), d, "must be less than or equal to previous value"))
	}
	for i, t := range oldSpec.Tolerations {
		if !hasToleration(newSpec.Tolerations, t) {
			errs = append(errs, field.Forbidden(specPath.Child("tolerations").Index(i), "existing toleration can not be modified except its tolerationSeconds"))
		}
	}
	if len(newSpec.SchedulingGates) > 0 {
		oldGates := sets.New[string]()
		for _, g := range oldSpec.SchedulingGates {
			oldGates.Insert(g.Name)
		}
		for i, g := range newSpec.SchedulingGates {
			if !oldGates.Has(g.Name) {
				errs = append(errs, field.Forbidden(specPath.Child("schedulingGates").Index(i), "only deletion is allowed, but found new scheduling gate '"+g.Name+"'"))
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}

	// Compare the specs with every mutable field taken from the new one.
	mutable := oldSpec.DeepCopy()
	if len(newSpec.Containers) == len(mutable.Containers) {
		for i := range mutable.Containers {
			mutable.Containers[i].Image = newSpec.Containers[i].Image
		}
	}
	if len(newSpec.InitContainers) == len(mutable.InitContainers) {
		for i := range mutable.InitContainers {
			mutable.InitContainers[i].Image = newSpec.InitContainers[i].Image
		}
	}
	mutable.ActiveDeadlineSeconds = newSpec.ActiveDeadlineSeconds
	mutable.Tolerations = newSpec.Tolerations
	mutable.TerminationGracePeriodSeconds = newSpec.TerminationGracePeriodSeconds
	mutable.SchedulingGates = newSpec.SchedulingGates
	mutable.NodeName = newSpec.NodeName
	// Ephemeral containers and resources change through subresources.
	mutable.EphemeralContainers = newSpec.EphemeralContainers
	if diff := changedFields(mutable, newSpec); len(diff) > 0 {
		errs = append(errs, field.Forbidden(specPath, "pod updates may not change fields other than "+
			"`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"+
			"`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds`"+
			" (allow it to be set to 1 if it was previously negative); changed: "+strings.Join(diff, ", ")))
	}
	return errs
}

func hasToleration(ts []corev1.Toleration, t corev1.Toleration) bool {
	for _, n := range ts {
		// tolerationSeconds may change on existing NoExecute tolerations.
		n.TolerationSeconds, t.TolerationSeconds = nil, nil
		if n == t {
			return true
		}
	}
	return false
}

// validatePodStatusUpdate checks the addresses a kubelet reports.
func validatePodStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	st := &pod.Status
	if st.PodIP != "" && len(st.PodIPs) > 0 && st.PodIPs[0].IP != st.PodIP {
		errs = append(errs, field.Invalid(statusPath.Child("podIPs").Index(0).Child("ip"), st.PodIPs[0].IP, "must be equal to `podIP`"))
	}
	for i, ip := range st.PodIPs {
		errs = append(errs, validateIP(ip.IP, statusPath.Child("podIPs").Index(i).Child("ip"))...)
	}
	for i, ip := range st.HostIPs {
		errs = append(errs, validateIP(ip.IP, statusPath.Child("hostIPs").Index(i).Child("ip"))...)
	}
	if old.Spec.NodeName != "" && pod.Spec.NodeName != old.Spec.NodeName {
		errs = append(errs, field.Forbidden(specPath.Child("nodeName"), "may not be changed directly"))
	}
	return errs
}

// validateLocalPath checks a relative file path inside a volume: it may
// not be absolute or climb out with "..".
func validateLocalPath(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(v) {
		errs = append(errs, field.Invalid(p, v, "must be a relative path"))
	}
	for _, part := range strings.Split(v, "/") {
		if part == ".." {
			errs = append(errs, field.Invalid(p, v, "must not contain '..'"))
			break
		}
	}
	return errs
}
