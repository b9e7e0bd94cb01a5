package api

import (
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func obj[T any, PT interface {
	*T
	runtime.Object
}]() func() runtime.Object {
	return func() runtime.Object { return PT(new(T)) }
}

// Resources is the catalogue of everything corral serves.
var Resources = []*Resource{
	// core/v1
	{Plural: "namespaces", Kind: "Namespace", ShortNames: []string{"ns"}, Status: true,
		New: obj[corev1.Namespace](), NewList: obj[corev1.NamespaceList](),
		Fields: []string{"status.phase"}, FieldsOf: namespaceFields},
	{Plural: "pods", Kind: "Pod", Namespaced: true, ShortNames: []string{"po"}, Categories: []string{"all"}, Status: true,
		New: obj[corev1.Pod](), NewList: obj[corev1.PodList](),
		Fields: podFieldLabels, FieldsOf: podFields, IndexField: "spec.nodeName", IndexOf: podNodeName},
	{Plural: "services", Kind: "Service", Namespaced: true, ShortNames: []string{"svc"}, Categories: []string{"all"}, Status: true,
		New: obj[corev1.Service](), NewList: obj[corev1.ServiceList](),
		Fields: []string{"spec.clusterIP", "spec.type"}, FieldsOf: serviceFields},
	{Plural: "endpoints", Kind: "Endpoints", Namespaced: true, ShortNames: []string{"ep"}, AllowCreateOnUpdate: true,
		New: obj[corev1.Endpoints](), NewList: obj[corev1.EndpointsList]()},
	{Plural: "configmaps", Kind: "ConfigMap", Namespaced: true, ShortNames: []string{"cm"},
		New: obj[corev1.ConfigMap](), NewList: obj[corev1.ConfigMapList]()},
	{Plural: "secrets", Kind: "Secret", Namespaced: true,
		New: obj[corev1.Secret](), NewList: obj[corev1.SecretList](),
		Fields: []string{"type"}, FieldsOf: secretFields},
	{Plural: "nodes", Kind: "Node", ShortNames: []string{"no"}, Status: true,
		New: obj[corev1.Node](), NewList: obj[corev1.NodeList](),
		Fields: []string{"spec.unschedulable"}, FieldsOf: nodeFields},
	{Plural: "events", Kind: "Event", Namespaced: true, ShortNames: []string{"ev"}, AllowCreateOnUpdate: true,
		New: obj[corev1.Event](), NewList: obj[corev1.EventList](),
		Fields: eventFieldLabels, FieldsOf: eventFields},
	{Plural: "serviceaccounts", Kind: "ServiceAccount", Namespaced: true, ShortNames: []string{"sa"},
		New: obj[corev1.ServiceAccount](), NewList: obj[corev1.ServiceAccountList]()},
	{Plural: "persistentvolumes", Kind: "PersistentVolume", ShortNames: []string{"pv"}, Status: true,
		New: obj[corev1.PersistentVolume](), NewList: obj[corev1.PersistentVolumeList]()},
	{Plural: "persistentvolumeclaims", Kind: "PersistentVolumeClaim", Namespaced: true, ShortNames: []string{"pvc"}, Status: true,
		New: obj[corev1.PersistentVolumeClaim](), NewList: obj[corev1.PersistentVolumeClaimList]()},
	{Plural: "resourcequotas", Kind: "ResourceQuota", Namespaced: true, ShortNames: []string{"quota"}, Status: true,
		New: obj[corev1.ResourceQuota](), NewList: obj[corev1.ResourceQuotaList]()},
	{Plural: "limitranges", Kind: "LimitRange", Namespaced: true, ShortNames: []string{"limits"},
		New: obj[corev1.LimitRange](), NewList: obj[corev1.LimitRangeList]()},
	{Plural: "podtemplates", Kind: "PodTemplate", Namespaced: true,
		New: obj[corev1.PodTemplate](), NewList: obj[corev1.PodTemplateList]()},

	// apps/v1
	{Group: "apps", Plural: "deployments", Kind: "Deployment", Namespaced: true, ShortNames: []string{"deploy"}, Categories: []string{"all"}, Status: true, Scale: true,
		New: obj[appsv1.Deployment](), NewList: obj[appsv1.DeploymentList]()},
	{Group: "apps", Plural: "replicasets", Kind: "ReplicaSet", Namespaced: true, ShortNames: []string{"rs"}, Categories: []string{"all"}, Status: true, Scale: true,
		New: obj[appsv1.ReplicaSet](), NewList: obj[appsv1.ReplicaSetList]()},
	{Group: "apps", Plural: "statefulsets", Kind: "StatefulSet", Namespaced: true, ShortNames: []string{"sts"}, Categories: []string{"all"}, Status: true, Scale: true,
		New: obj[appsv1.StatefulSet](), NewList: obj[appsv1.StatefulSetList]()},
	{Group: "apps", Plural: "daemonsets", Kind: "DaemonSet", Namespaced: true, ShortNames: []string{"ds"}, Categories: []string{"all"}, Status: true,
		New: obj[appsv1.DaemonSet](), NewList: obj[appsv1.DaemonSetList]()},
	{Group: "apps", Plural: "controllerrevisions", Kind: "ControllerRevision", Namespaced: true,
		New: obj[appsv1.ControllerRevision](), NewList: obj[appsv1.ControllerRevisionList]()},

	// batch/v1
	{Group: "batch", Plural: "jobs", Kind: "Job", Namespaced: true, Categories: []string{"all"}, Status: true,
		New: obj[batchv1.Job](), NewList: obj[batchv1.JobList](),
		Fields: []string{"status.successful"}, FieldsOf: jobFields},
	{Group: "batch", Plural: "cronjobs", Kind: "CronJob", Namespaced: true, ShortNames: []string{"cj"}, Categories: []string{"all"}, Status: true,
		New: obj[batchv1.CronJob](), NewList: obj[batchv1.CronJobList]()},

	// coordination.k8s.io/v1, discovery.k8s.io/v1
	{Group: "coordination.k8s.io", Plural: "leases", Kind: "Lease", Namespaced: true, AllowCreateOnUpdate: true,
		New: obj[coordinationv1.Lease](), NewList: obj[coordinationv1.LeaseList]()},
	{Group: "discovery.k8s.io", Plural: "endpointslices", Kind: "EndpointSlice", Namespaced: true,
		New: obj[discoveryv1.EndpointSlice](), NewList: obj[discoveryv1.EndpointSliceList]()},

	// networking.k8s.io/v1
	{Group: "networking.k8s.io", Plural: "ingresses", Kind: "Ingress", Namespaced: true, ShortNames: []string{"ing"}, Status: true,
		New: obj[networkingv1.Ingress](), NewList: obj[networkingv1.IngressList]()},
	{Group: "networking.k8s.io", Plural: "ingressclasses", Kind: "IngressClass",
		New: obj[networkingv1.IngressClass](), NewList: obj[networkingv1.IngressClassList]()},
	{Group: "networking.k8s.io", Plural: "networkpolicies", Kind: "NetworkPolicy", Namespaced: true, ShortNames: []string{"netpol"},
		New: obj[networkingv1.NetworkPolicy](), NewList: obj[networkingv1.NetworkPolicyList]()},

	// autoscaling: v2 is stored, v1 is the same objects converted.
	{Group: "autoscaling", Version: "v2", Plural: "horizontalpodautoscalers", Kind: "HorizontalPodAutoscaler", Namespaced: true, ShortNames: []string{"hpa"}, Categories: []string{"all"}, Status: true,
		New: obj[autoscalingv2.HorizontalPodAutoscaler](), NewList: obj[autoscalingv2.HorizontalPodAutoscalerList]()},
	{Group: "autoscaling", Plural: "horizontalpodautoscalers", Kind: "HorizontalPodAutoscaler", Namespaced: true, ShortNames: []string{"hpa"}, Categories: []string{"all"}, Status: true,
		New: obj[autoscalingv1.HorizontalPodAutoscaler](), NewList: obj[autoscalingv1.HorizontalPodAutoscalerList](),
		StorageOf: &schema.GroupResource{Group: "autoscaling", Resource: "horizontalpodautoscalers"}},

	// policy/v1, rbac, scheduling, storage, events
	{Group: "policy", Plural: "poddisruptionbudgets", Kind: "PodDisruptionBudget", Namespaced: true, ShortNames: []string{"pdb"}, Status: true,
		New: obj[policyv1.PodDisruptionBudget](), NewList: obj[policyv1.PodDisruptionBudgetList]()},
	{Group: "rbac.authorization.k8s.io", Plural: "roles", Kind: "Role", Namespaced: true,
		New: obj[rbacv1.Role](), NewList: obj[rbacv1.RoleList]()},
	{Group: "rbac.authorization.k8s.io", Plural: "clusterroles", Kind: "ClusterRole",
		New: obj[rbacv1.ClusterRole](), NewList: obj[rbacv1.ClusterRoleList]()},
	{Group: "rbac.authorization.k8s.io", Plural: "rolebindings", Kind: "RoleBinding", Namespaced: true,
		New: obj[rbacv1.RoleBinding](), NewList: obj[rbacv1.RoleBindingList]()},
	{Group: "rbac.authorization.k8s.io", Plural: "clusterrolebindings", Kind: "ClusterRoleBinding",
		New: obj[rbacv1.ClusterRoleBinding](), NewList: obj[rbacv1.ClusterRoleBindingList]()},
	{Group: "scheduling.k8s.io", Plural: "priorityclasses", Kind: "PriorityClass", ShortNames: []string{"pc"},
		New: obj[schedulingv1.PriorityClass](), NewList: obj[schedulingv1.PriorityClassList]()},
	{Group: "storage.k8s.io", Plural: "storageclasses", Kind: "StorageClass", ShortNames: []string{"sc"},
		New: obj[storagev1.StorageClass](), NewList: obj[storagev1.StorageClassList]()},
	{Group: "events.k8s.io", Plural: "events", Kind: "Event", Namespaced: true, ShortNames: []string{"ev"}, AllowCreateOnUpdate: true,
		New: obj[eventsv1.Event](), NewList: obj[eventsv1.EventList](),
		StorageOf: &schema.GroupResource{Resource: "events"}},

	// Reviews: answered at once, never stored.
	{Group: "authorization.k8s.io", Plural: "selfsubjectaccessreviews", Kind: "SelfSubjectAccessReview", Virtual: true,
		New: obj[authorizationv1.SelfSubjectAccessReview]()},
	{Group: "authorization.k8s.io", Plural: "subjectaccessreviews", Kind: "SubjectAccessReview", Virtual: true,
		New: obj[authorizationv1.SubjectAccessReview]()},
	{Group: "authorization.k8s.io", Plural: "selfsubjectrulesreviews", Kind: "SelfSubjectRulesReview", Virtual: true,
		New: obj[authorizationv1.SelfSubjectRulesReview]()},
	{Group: "authorization.k8s.io", Plural: "localsubjectaccessreviews", Kind: "LocalSubjectAccessReview", Namespaced: true, Virtual: true,
		New: obj[authorizationv1.LocalSubjectAccessReview]()},
	{Group: "authentication.k8s.io", Plural: "selfsubjectreviews", Kind: "SelfSubjectReview", Virtual: true,
		New: obj[authenticationv1.SelfSubjectReview]()},
	{Group: "authentication.k8s.io", Plural: "tokenreviews", Kind: "TokenReview", Virtual: true,
		New: obj[authenticationv1.TokenReview]()},
}

func init() {
	for _, r := range Resources {
		if r.Version == "" {
			r.Version = "v1"
		}
		if r.Singular == "" {
			r.Singular = lower(r.Kind)
		}
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
