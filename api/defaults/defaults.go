package defaults

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// RegisterDefaults registers a defaulting function with s for every served
// type that has upstream defaults. The scheme keys defaulters by Go type, so
// one registration also covers the internal alias of the same type.
func RegisterDefaults(s *runtime.Scheme) error {
	add := func(obj runtime.Object, fn func(any)) { s.AddTypeDefaultingFunc(obj, fn) }

	// core/v1
	add(&corev1.Pod{}, func(o any) { SetPodDefaults(o.(*corev1.Pod)) })
	add(&corev1.PodTemplate{}, func(o any) { SetPodTemplateSpecDefaults(&o.(*corev1.PodTemplate).Template) })
	add(&corev1.Service{}, func(o any) { SetServiceDefaults(o.(*corev1.Service)) })
	add(&corev1.Endpoints{}, func(o any) { setEndpointsDefaults(o.(*corev1.Endpoints)) })
	add(&corev1.Secret{}, func(o any) { setSecretDefaults(o.(*corev1.Secret)) })
	add(&corev1.Namespace{}, func(o any) { setNamespaceDefaults(o.(*corev1.Namespace)) })
	add(&corev1.Node{}, func(o any) { setNodeDefaults(o.(*corev1.Node)) })
	add(&corev1.PersistentVolume{}, func(o any) { setPVDefaults(o.(*corev1.PersistentVolume)) })
	add(&corev1.PersistentVolumeClaim{}, func(o any) { setPVCDefaults(o.(*corev1.PersistentVolumeClaim)) })
	add(&corev1.ResourceQuota{}, func(o any) { setResourceQuotaDefaults(o.(*corev1.ResourceQuota)) })
	add(&corev1.LimitRange{}, func(o any) { setLimitRangeDefaults(o.(*corev1.LimitRange)) })

	// apps/v1
	add(&appsv1.Deployment{}, func(o any) { SetDeploymentDefaults(o.(*appsv1.Deployment)) })
	add(&appsv1.ReplicaSet{}, func(o any) { setReplicaSetDefaults(o.(*appsv1.ReplicaSet)) })
	add(&appsv1.StatefulSet{}, func(o any) { setStatefulSetDefaults(o.(*appsv1.StatefulSet)) })
	add(&appsv1.DaemonSet{}, func(o any) { setDaemonSetDefaults(o.(*appsv1.DaemonSet)) })

	// batch/v1
	add(&batchv1.Job{}, func(o any) { SetJobDefaults(o.(*batchv1.Job)) })
	add(&batchv1.CronJob{}, func(o any) { setCronJobDefaults(o.(*batchv1.CronJob)) })

	// discovery/v1, networking/v1
	add(&discoveryv1.EndpointSlice{}, func(o any) { setEndpointSliceDefaults(o.(*discoveryv1.EndpointSlice)) })
	add(&networkingv1.NetworkPolicy{}, func(o any) { setNetworkPolicyDefaults(o.(*networkingv1.NetworkPolicy)) })
	add(&networkingv1.IngressClass{}, func(o any) { setIngressClassDefaults(o.(*networkingv1.IngressClass)) })

	// autoscaling
	add(&autoscalingv1.HorizontalPodAutoscaler{}, func(o any) { setHPAv1Defaults(o.(*autoscalingv1.HorizontalPodAutoscaler)) })
	add(&autoscalingv2.HorizontalPodAutoscaler{}, func(o any) { setHPAv2Defaults(o.(*autoscalingv2.HorizontalPodAutoscaler)) })

	// rbac, scheduling, storage
	add(&rbacv1.RoleBinding{}, func(o any) {
		rb := o.(*rbacv1.RoleBinding)
		setRoleBindingDefaults(&rb.RoleRef, rb.Subjects)
	})
	add(&rbacv1.ClusterRoleBinding{}, func(o any) {
		rb := o.(*rbacv1.ClusterRoleBinding)
		setRoleBindingDefaults(&rb.RoleRef, rb.Subjects)
	})
	add(&schedulingv1.PriorityClass{}, func(o any) { setPriorityClassDefaults(o.(*schedulingv1.PriorityClass)) })
	add(&storagev1.StorageClass{}, func(o any) { setStorageClassDefaults(o.(*storagev1.StorageClass)) })
	return nil
}

// ptrTo returns a pointer to a copy of v; used for the many optional fields.
func ptrTo[T any](v T) *T { return &v }

// defaultPtr points *p at v when the client left it nil.
func defaultPtr[T any](p **T, v T) {
	if *p == nil {
		*p = &v
	}
}

// defaultString sets *p to v when it is empty.
func defaultString[T ~string](p *T, v T) {
	if *p == "" {
		*p = v
	}
}
