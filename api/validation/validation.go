package validation

import (
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
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
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Name rules, as upstream assigns them per kind.
var (
	dnsSubdomainName = apivalidation.NameIsDNSSubdomain
	dnsLabelName     = apivalidation.NameIsDNSLabel
	dns1035Name      = apivalidation.NameIsDNS1035Label
	pathSegmentName  = path.ValidatePathSegmentName
)

var (
	metaPath   = field.NewPath("metadata")
	specPath   = field.NewPath("spec")
	statusPath = field.NewPath("status")
)

// kind is what validation needs to know about one object: its metadata and
// scope, and the checks for its body. It lets the three entry points share
// one type switch.
type kind struct {
	meta       *metav1.ObjectMeta
	namespaced bool
	name       apivalidation.ValidateNameFunc
	// body validates everything but metadata; nil means nothing to check.
	body func() field.ErrorList
	// update checks the transition from old (immutable fields); nil: none.
	update func(old runtime.Object) field.ErrorList
	// status checks a status update against old; nil: metadata only.
	status func(old runtime.Object) field.ErrorList
}

// ValidateCreate validates a new object. Unknown types are not checked.
func ValidateCreate(obj runtime.Object) field.ErrorList {
	k := describe(obj)
	if k == nil {
		return nil
	}
	errs := apivalidation.ValidateObjectMeta(k.meta, k.namespaced, k.name, metaPath)
	if k.body != nil {
		errs = append(errs, k.body()...)
	}
	return errs
}

// ValidateUpdate validates an update of the main resource: the new object
// as a whole, metadata changes, and the fields that may not change.
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	k, oldMeta, errs := describePair(obj, old)
	if k == nil {
		return errs
	}
	errs = apivalidation.ValidateObjectMetaUpdate(k.meta, oldMeta, metaPath)
	if k.body != nil {
		errs = append(errs, k.body()...)
	}
	if k.update != nil {
		errs = append(errs, k.update(old)...)
	}
	return errs
}

// ValidateStatusUpdate validates an update through the status subresource.
// The spec is carried over from the stored object by the strategy, so only
// metadata and the status itself are checked.
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	k, oldMeta, errs := describePair(obj, old)
	if k == nil {
		return errs
	}
	errs = apivalidation.ValidateObjectMetaUpdate(k.meta, oldMeta, metaPath)
	if k.status != nil {
		errs = append(errs, k.status(old)...)
	}
	return errs
}

// describePair describes obj and checks that old is of the same type.
func describePair(obj, old runtime.Object) (*kind, *metav1.ObjectMeta, field.ErrorList) {
	k := describe(obj)
	if k == nil {
		return nil, nil, nil
	}
	ok := describe(old)
	if ok == nil || reflect.TypeOf(obj) != reflect.TypeOf(old) {
		return nil, nil, field.ErrorList{field.InternalError(nil, fmt.Errorf("cannot update %T from %T", obj, old))}
	}
	return k, ok.meta, nil
}

// against adapts a typed check of (obj, old) to the kind hooks.
func against[T runtime.Object](obj T, fn func(obj, old T) field.ErrorList) func(runtime.Object) field.ErrorList {
	return func(old runtime.Object) field.ErrorList {
		o, ok := old.(T)
		if !ok {
			return field.ErrorList{field.InternalError(nil, fmt.Errorf("old object is %T, not %T", old, obj))}
		}
		return fn(obj, o)
	}
}

// describe is the one dispatch on concrete types.
func describe(obj runtime.Object) *kind {
	switch o := obj.(type) {
	// core/v1
	case *corev1.Namespace:
		return &kind{meta: &o.ObjectMeta, name: dnsLabelName,
			body:   func() field.ErrorList { return validateNamespace(o) },
			status: against(o, validateNamespaceStatusUpdate)}
	case *corev1.Pod:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validatePod(o) },
			update: against(o, validatePodUpdate),
			status: against(o, validatePodStatusUpdate)}
	case *corev1.PodTemplate:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body: func() field.ErrorList {
				return validatePodTemplateSpec(&o.Template, field.NewPath("template"), podSpecOpts{restartPolicies: allRestartPolicies})
			}}
	case *corev1.Service:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dns1035Name,
			body:   func() field.ErrorList { return validateService(o) },
			update: against(o, validateServiceUpdate),
			status: against(o, validateServiceStatusUpdate)}
	case *corev1.Endpoints:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body: func() field.ErrorList { return validateEndpoints(o) }}
	case *corev1.ConfigMap:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validateConfigMap(o) },
			update: against(o, validateConfigMapUpdate)}
	case *corev1.Secret:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validateSecret(o) },
			update: against(o, validateSecretUpdate)}
	case *corev1.Node:
		return &kind{meta: &o.ObjectMeta, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validateNode(o) },
			update: against(o, validateNodeUpdate),
			status: against(o, validateNodeUpdate)}
	case *corev1.Event:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body: func() field.ErrorList { return validateCoreEvent(o) }}
	case *corev1.ServiceAccount:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName}
	case *corev1.PersistentVolume:
		return &kind{meta: &o.ObjectMeta, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validatePV(o) },
			update: against(o, validatePVUpdate)}
	case *corev1.PersistentVolumeClaim:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validatePVCSpec(&o.Spec, specPath) },
			update: against(o, validatePVCUpdate)}
	case *corev1.ResourceQuota:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body: func() field.ErrorList { return validateResourceQuota(o) }}
	case *corev1.LimitRange:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body: func() field.ErrorList { return validateLimitRange(o) }}

	// apps/v1
	case *appsv1.Deployment:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validateDeployment(o) },
			update: against(o, validateDeploymentUpdate),
			status: against(o, validateDeploymentStatusUpdate)}
	case *appsv1.ReplicaSet:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validateReplicaSet(o) },
			update: against(o, validateReplicaSetUpdate),
			status: against(o, validateReplicaSetStatusUpdate)}
	case *appsv1.StatefulSet:
		// Pod names (and so hostnames) derive from it: a DNS label.
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsLabelName,
			body:   func() field.ErrorList { return validateStatefulSet(o) },
			update: against(o, validateStatefulSetUpdate),
			status: against(o, validateStatefulSetStatusUpdate)}
	case *appsv1.DaemonSet:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validateDaemonSet(o) },
			update: against(o, validateDaemonSetUpdate),
			status: against(o, validateDaemonSetStatusUpdate)}
	case *appsv1.ControllerRevision:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validateControllerRevision(o) },
			update: against(o, validateControllerRevisionUpdate)}

	// batch/v1
	case *batchv1.Job:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validateJob(o) },
			update: against(o, validateJobUpdate),
			status: against(o, validateJobStatusUpdate)}
	case *batchv1.CronJob:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body: func() field.ErrorList { return validateCronJob(o) }}

	// coordination, discovery, networking
	case *coordinationv1.Lease:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body: func() field.ErrorList { return validateLease(o) }}
	case *discoveryv1.EndpointSlice:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validateEndpointSlice(o) },
			update: against(o, validateEndpointSliceUpdate)}
	case *networkingv1.Ingress:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validateIngress(o) },
			status: against(o, validateIngressStatusUpdate)}
	case *networkingv1.IngressClass:
		return &kind{meta: &o.ObjectMeta, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validateIngressClass(o) },
			update: against(o, validateIngressClassUpdate)}
	case *networkingv1.NetworkPolicy:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body: func() field.ErrorList { return validateNetworkPolicy(o) }}

	// autoscaling, policy
	case *autoscalingv1.HorizontalPodAutoscaler:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: pathSegmentName,
			body: func() field.ErrorList { return validateHPAv1(o) }}
	case *autoscalingv2.HorizontalPodAutoscaler:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: pathSegmentName,
			body: func() field.ErrorList { return validateHPAv2(o) }}
	case *policyv1.PodDisruptionBudget:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body: func() field.ErrorList { return validatePDB(o) }}

	// rbac
	case *rbacv1.Role:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: pathSegmentName,
			body: func() field.ErrorList { return validatePolicyRules(o.Rules, field.NewPath("rules"), true) }}
	case *rbacv1.ClusterRole:
		return &kind{meta: &o.ObjectMeta, name: pathSegmentName,
			body: func() field.ErrorList { return validateClusterRole(o) }}
	case *rbacv1.RoleBinding:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: pathSegmentName,
			body:   func() field.ErrorList { return validateBinding(o.RoleRef, o.Subjects, true) },
			update: against(o, validateRoleBindingUpdate)}
	case *rbacv1.ClusterRoleBinding:
		return &kind{meta: &o.ObjectMeta, name: pathSegmentName,
			body:   func() field.ErrorList { return validateBinding(o.RoleRef, o.Subjects, false) },
			update: against(o, validateClusterRoleBindingUpdate)}

	// scheduling, storage, events
	case *schedulingv1.PriorityClass:
		return &kind{meta: &o.ObjectMeta, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validatePriorityClass(o) },
			update: against(o, validatePriorityClassUpdate)}
	case *storagev1.StorageClass:
		return &kind{meta: &o.ObjectMeta, name: dnsSubdomainName,
			body:   func() field.ErrorList { return validateStorageClass(o) },
			update: against(o, validateStorageClassUpdate)}
	case *eventsv1.Event:
		return &kind{meta: &o.ObjectMeta, namespaced: true, name: dnsSubdomainName,
			body: func() field.ErrorList { return validateEventsEvent(o) }}
	}
	return nil
}
