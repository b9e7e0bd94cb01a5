package validation

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Workload controllers keep their pods running, so Always is the only
// restart policy their templates may use.
var controllerPodOpts = podSpecOpts{restartPolicies: []corev1.RestartPolicy{corev1.RestartPolicyAlways}}

// validateWorkload checks what every apps/v1 controller shares: a selector
// that is non-empty, valid and matches the template's labels.
func validateWorkload(owner string, sel *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec, replicas *int32, minReady int32) field.ErrorList {
	errs := validateSelector(sel, specPath.Child("selector"), owner)
	errs = append(errs, validateSelectorMatchesTemplate(sel, tmpl.Labels, specPath.Child("template"))...)
	errs = append(errs, validatePodTemplateSpec(tmpl, specPath.Child("template"), controllerPodOpts)...)
	errs = append(errs, validateNonnegativePtr(replicas, specPath.Child("replicas"))...)
	errs = append(errs, validateNonnegative(int64(minReady), specPath.Child("minReadySeconds"))...)
	return errs
}

var deploymentStrategies = []appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType}

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	spec := &d.Spec
	errs := validateWorkload("deployment", spec.Selector, &spec.Template, spec.Replicas, spec.MinReadySeconds)
	sp := specPath.Child("strategy")
	errs = append(errs, validateRequiredEnum(spec.Strategy.Type, sp.Child("type"), deploymentStrategies...)...)
	if ru := spec.Strategy.RollingUpdate; ru != nil {
		if spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
			errs = append(errs, field.Forbidden(sp.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		} else {
			rp := sp.Child("rollingUpdate")
			errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"), true)...)
			errs = append(errs, validateIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"), false)...)
			if isZeroIntOrPercent(ru.MaxUnavailable) && isZeroIntOrPercent(ru.MaxSurge) {
				errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
			}
		}
	}
	errs = append(errs, validateNonnegativePtr(spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	if pd := spec.ProgressDeadlineSeconds; pd != nil {
		errs = append(errs, validateNonnegative(int64(*pd), specPath.Child("progressDeadlineSeconds"))...)
		if *pd <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(specPath.Child("progressDeadlineSeconds"), *pd, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	return immutable(d.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))
}

func validateDeploymentStatusUpdate(d, _ *appsv1.Deployment) field.ErrorList {
	st := &d.Status
	return validateReplicaCounts(map[string]int32{"replicas": st.Replicas, "updatedReplicas": st.UpdatedReplicas,
		"readyReplicas": st.ReadyReplicas, "availableReplicas": st.AvailableReplicas, "unavailableReplicas": st.UnavailableReplicas})
}

// validateReplicaCounts checks the counters a controller reports.
func validateReplicaCounts(counts map[string]int32) field.ErrorList {
	var errs field.ErrorList
	for name, v := range counts {
		errs = append(errs, validateNonnegative(int64(v), statusPath.Child(name))...)
	}
	return errs
}

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	return validateWorkload("replicaset", rs.Spec.Selector, &rs.Spec.Template, rs.Spec.Replicas, rs.Spec.MinReadySeconds)
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	return immutable(rs.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))
}

func validateReplicaSetStatusUpdate(rs, _ *appsv1.ReplicaSet) field.ErrorList {
	st := &rs.Status
	errs := validateReplicaCounts(map[string]int32{"replicas": st.Replicas, "fullyLabeledReplicas": st.FullyLabeledReplicas,
		"readyReplicas": st.ReadyReplicas, "availableReplicas": st.AvailableReplicas})
	if st.ReadyReplicas > st.Replicas {
		errs = append(errs, field.Invalid(statusPath.Child("readyReplicas"), st.ReadyReplicas, "cannot be greater than status.replicas"))
	}
	return errs
}

var (
	podManagementPolicies = []appsv1.PodManagementPolicyType{appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement}
	statefulSetStrategies = []appsv1.StatefulSetUpdateStrategyType{appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType}
	retentionPolicies     = []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
)

func validateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	spec := &ss.Spec
	errs := validateWorkload("statefulset", spec.Selector, templateWithClaims(spec), spec.Replicas, spec.MinReadySeconds)
	errs = append(errs, validateRequiredEnum(spec.PodManagementPolicy, specPath.Child("podManagementPolicy"), podManagementPolicies...)...)
	up := specPath.Child("updateStrategy")
	errs = append(errs, validateRequiredEnum(spec.UpdateStrategy.Type, up.Child("type"), statefulSetStrategies...)...)
	if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
		if spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			errs = append(errs, field.Invalid(up.Child("rollingUpdate"), ru, "only allowed for updateStrategy 'RollingUpdate'"))
		}
		errs = append(errs, validateNonnegativePtr(ru.Partition, up.Child("rollingUpdate", "partition"))...)
		errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, up.Child("rollingUpdate", "maxUnavailable"), true)...)
		if ru.MaxUnavailable != nil && isZeroIntOrPercent(ru.MaxUnavailable) {
			errs = append(errs, field.Invalid(up.Child("rollingUpdate", "maxUnavailable"), ru.MaxUnavailable, "must be greater than 0"))
		}
	}
	if rp := spec.PersistentVolumeClaimRetentionPolicy; rp != nil {
		pp := specPath.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, validateRequiredEnum(rp.WhenDeleted, pp.Child("whenDeleted"), retentionPolicies...)...)
		errs = append(errs, validateRequiredEnum(rp.WhenScaled, pp.Child("whenScaled"), retentionPolicies...)...)
	}
	if spec.ServiceName != "" {
		errs = append(errs, invalidEach(specPath.Child("serviceName"), spec.ServiceName, validation.IsDNS1035Label(spec.ServiceName))...)
	}
	if o := spec.Ordinals; o != nil {
		errs = append(errs, validateNonnegative(int64(o.Start), specPath.Child("ordinals", "start"))...)
	}
	errs = append(errs, validateNonnegativePtr(spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	for i := range spec.VolumeClaimTemplates {
		t := &spec.VolumeClaimTemplates[i]
		tp := specPath.Child("volumeClaimTemplates").Index(i)
		errs = append(errs, requiredName(t.Name, tp.Child("metadata", "name"), validateDNS1123Subdomain)...)
		errs = append(errs, validatePVCSpec(&t.Spec, tp.Child("spec"))...)
	}
	return errs
}

// templateWithClaims returns the pod template as the controller will make
// its pods: each claim template is a volume (replacing a template volume of
// its name), so container mounts may name a claim template. Claim names
// that cannot be volume names are left out; mounts of them stay NotFound.
func templateWithClaims(spec *appsv1.StatefulSetSpec) *corev1.PodTemplateSpec {
	if len(spec.VolumeClaimTemplates) == 0 {
		return &spec.Template
	}
	t := spec.Template.DeepCopy()
	have := map[string]bool{}
	for _, v := range t.Spec.Volumes {
		have[v.Name] = true
	}
	for _, ct := range spec.VolumeClaimTemplates {
		if have[ct.Name] || len(validation.IsDNS1123Label(ct.Name)) > 0 {
			continue
		}
		have[ct.Name] = true
		t.Spec.Volumes = append(t.Spec.Volumes, corev1.Volume{Name: ct.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ct.Name}}})
	}
	return t
}

// validateStatefulSetUpdate allows changes only to the fields upstream
// lists; the rest shape pod identity and storage.
func validateStatefulSetUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	mutable := old.Spec.DeepCopy()
	mutable.Replicas = ss.Spec.Replicas
	mutable.Ordinals = ss.Spec.Ordinals
	mutable.Template = ss.Spec.Template
	mutable.UpdateStrategy = ss.Spec.UpdateStrategy
	mutable.PersistentVolumeClaimRetentionPolicy = ss.Spec.PersistentVolumeClaimRetentionPolicy
	mutable.MinReadySeconds = ss.Spec.MinReadySeconds
	mutable.RevisionHistoryLimit = ss.Spec.RevisionHistoryLimit
	if !equality.Semantic.DeepEqual(*mutable, ss.Spec) {
		return field.ErrorList{field.Forbidden(specPath, "updates to statefulset spec for fields other than 'replicas', 'ordinals', "+
			"'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")}
	}
	return nil
}

func validateStatefulSetStatusUpdate(ss, _ *appsv1.StatefulSet) field.ErrorList {
	st := &ss.Status
	return validateReplicaCounts(map[string]int32{"replicas": st.Replicas, "readyReplicas": st.ReadyReplicas,
		"currentReplicas": st.CurrentReplicas, "updatedReplicas": st.UpdatedReplicas, "availableReplicas": st.AvailableReplicas})
}

var daemonSetStrategies = []appsv1.DaemonSetUpdateStrategyType{appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType}

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	spec := &ds.Spec
	errs := validateWorkload("daemonset", spec.Selector, &spec.Template, nil, spec.MinReadySeconds)
	up := specPath.Child("updateStrategy")
	errs = append(errs, validateRequiredEnum(spec.UpdateStrategy.Type, up.Child("type"), daemonSetStrategies...)...)
	if ru := spec.UpdateStrategy.RollingUpdate; ru != nil && spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		rp := up.Child("rollingUpdate")
		errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"), true)...)
		errs = append(errs, validateIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"), true)...)
		if isZeroIntOrPercent(ru.MaxUnavailable) && isZeroIntOrPercent(ru.MaxSurge) {
			errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
	}
	errs = append(errs, validateNonnegativePtr(spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	return errs
}

func validateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	return immutable(ds.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))
}

func validateDaemonSetStatusUpdate(ds, _ *appsv1.DaemonSet) field.ErrorList {
	st := &ds.Status
	return validateReplicaCounts(map[string]int32{"currentNumberScheduled": st.CurrentNumberScheduled,
		"numberMisscheduled": st.NumberMisscheduled, "desiredNumberScheduled": st.DesiredNumberScheduled,
		"numberReady": st.NumberReady, "updatedNumberScheduled": st.UpdatedNumberScheduled,
		"numberAvailable": st.NumberAvailable, "numberUnavailable": st.NumberUnavailable})
}

func validateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	return validateNonnegative(cr.Revision, field.NewPath("revision"))
}

// validateControllerRevisionUpdate: a revision's data is a snapshot.
func validateControllerRevisionUpdate(cr, old *appsv1.ControllerRevision) field.ErrorList {
	return immutable(cr.Data, old.Data, field.NewPath("data"))
}
