package defaults

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
)

func setEndpointSliceDefaults(es *discoveryv1.EndpointSlice) {
	for i := range es.Ports {
		defaultPtr(&es.Ports[i].Name, "")
		defaultPtr(&es.Ports[i].Protocol, corev1.ProtocolTCP)
	}
}

// setNetworkPolicyDefaults: a policy without policyTypes always isolates
// ingress, and egress too when it lists egress rules.
func setNetworkPolicyDefaults(np *networkingv1.NetworkPolicy) {
	for i := range np.Spec.Ingress {
		for j := range np.Spec.Ingress[i].Ports {
			defaultPtr(&np.Spec.Ingress[i].Ports[j].Protocol, corev1.ProtocolTCP)
		}
	}
	for i := range np.Spec.Egress {
		for j := range np.Spec.Egress[i].Ports {
			defaultPtr(&np.Spec.Egress[i].Ports[j].Protocol, corev1.ProtocolTCP)
		}
	}
	if len(np.Spec.PolicyTypes) == 0 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) > 0 {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
}

func setIngressClassDefaults(ic *networkingv1.IngressClass) {
	if p := ic.Spec.Parameters; p != nil {
		defaultPtr(&p.Scope, networkingv1.IngressClassParametersReferenceScopeCluster)
	}
}

func setHPAv1Defaults(hpa *autoscalingv1.HorizontalPodAutoscaler) {
	defaultPtr(&hpa.Spec.MinReplicas, int32(1))
}

// defaultCPUUtilization is the target upstream gives an HPA without metrics.
const defaultCPUUtilization int32 = 80

func setHPAv2Defaults(hpa *autoscalingv2.HorizontalPodAutoscaler) {
	defaultPtr(&hpa.Spec.MinReplicas, int32(1))
	if len(hpa.Spec.Metrics) == 0 {
		hpa.Spec.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{
					Type:               autoscalingv2.UtilizationMetricType,
					AverageUtilization: ptrTo(defaultCPUUtilization),
				},
			},
		}}
	}
	// Only a behavior the user started is completed; a nil one means the
	// controller's built-in behavior.
	if b := hpa.Spec.Behavior; b != nil {
		b.ScaleUp = scalingRules(b.ScaleUp, ptrTo(int32(0)), []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		})
		b.ScaleDown = scalingRules(b.ScaleDown, nil, []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		})
	}
}

// scalingRules fills the unset parts of one direction's rules. A nil
// stabilization window for scale-down means the controller flag's value.
func scalingRules(r *autoscalingv2.HPAScalingRules, window *int32, policies []autoscalingv2.HPAScalingPolicy) *autoscalingv2.HPAScalingRules {
	if r == nil {
		r = &autoscalingv2.HPAScalingRules{}
	}
	if r.StabilizationWindowSeconds == nil && window != nil {
		r.StabilizationWindowSeconds = ptrTo(*window)
	}
	defaultPtr(&r.SelectPolicy, autoscalingv2.MaxChangePolicySelect)
	if r.Policies == nil {
		r.Policies = policies
	}
	return r
}

// setRoleBindingDefaults fills the API group of roleRef and of user and
// group subjects; service accounts are core and keep "".
func setRoleBindingDefaults(ref *rbacv1.RoleRef, subjects []rbacv1.Subject) {
	defaultString(&ref.APIGroup, rbacv1.GroupName)
	for i := range subjects {
		s := &subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

func setPriorityClassDefaults(pc *schedulingv1.PriorityClass) {
	defaultPtr(&pc.PreemptionPolicy, corev1.PreemptLowerPriority)
}

func setStorageClassDefaults(sc *storagev1.StorageClass) {
	defaultPtr(&sc.ReclaimPolicy, corev1.PersistentVolumeReclaimDelete)
	defaultPtr(&sc.VolumeBindingMode, storagev1.VolumeBindingImmediate)
}
