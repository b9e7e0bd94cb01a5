package defaults

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const defaultRevisionHistoryLimit int32 = 10

// SetDeploymentDefaults defaults an apps/v1 Deployment and its template.
func SetDeploymentDefaults(d *appsv1.Deployment) {
	spec := &d.Spec
	defaultPtr(&spec.Replicas, int32(1))
	defaultString(&spec.Strategy.Type, appsv1.RollingUpdateDeploymentStrategyType)
	if spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if spec.Strategy.RollingUpdate == nil {
			spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		defaultPtr(&spec.Strategy.RollingUpdate.MaxUnavailable, intstr.FromString("25%"))
		defaultPtr(&spec.Strategy.RollingUpdate.MaxSurge, intstr.FromString("25%"))
	}
	defaultPtr(&spec.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	defaultPtr(&spec.ProgressDeadlineSeconds, int32(600))
	SetPodTemplateSpecDefaults(&spec.Template)
}

func setReplicaSetDefaults(rs *appsv1.ReplicaSet) {
	defaultPtr(&rs.Spec.Replicas, int32(1))
	SetPodTemplateSpecDefaults(&rs.Spec.Template)
}

// setStatefulSetDefaults follows upstream, including maxUnavailable 1 for
// rolling updates (MaxUnavailableStatefulSet is on by default).
func setStatefulSetDefaults(ss *appsv1.StatefulSet) {
	spec := &ss.Spec
	defaultString(&spec.PodManagementPolicy, appsv1.OrderedReadyPodManagement)
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if ru := spec.UpdateStrategy.RollingUpdate; spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && ru != nil {
		defaultPtr(&ru.Partition, int32(0))
		defaultPtr(&ru.MaxUnavailable, intstr.FromInt32(1))
	}
	if spec.PersistentVolumeClaimRetentionPolicy == nil {
		spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	defaultString(&spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	defaultString(&spec.PersistentVolumeClaimRetentionPolicy.WhenScaled, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	defaultPtr(&spec.Replicas, int32(1))
	defaultPtr(&spec.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	SetPodTemplateSpecDefaults(&spec.Template)
	for i := range spec.VolumeClaimTemplates {
		pvc := &spec.VolumeClaimTemplates[i]
		setPVCSpecDefaults(&pvc.Spec)
		defaultString(&pvc.Status.Phase, corev1.ClaimPending)
	}
}

func setDaemonSetDefaults(ds *appsv1.DaemonSet) {
	spec := &ds.Spec
	defaultString(&spec.UpdateStrategy.Type, appsv1.RollingUpdateDaemonSetStrategyType)
	if spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		defaultPtr(&spec.UpdateStrategy.RollingUpdate.MaxUnavailable, intstr.FromInt32(1))
		defaultPtr(&spec.UpdateStrategy.RollingUpdate.MaxSurge, intstr.FromInt32(0))
	}
	defaultPtr(&spec.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	SetPodTemplateSpecDefaults(&spec.Template)
}
