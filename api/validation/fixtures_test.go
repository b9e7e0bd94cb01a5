package validation

import (
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
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"corral/api/defaults"
)

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := defaults.RegisterDefaults(s); err != nil {
		panic(err)
	}
	return s
}()

// defaulted applies corral's defaults, as the API server does before
// validating.
func defaulted[T runtime.Object](obj T) T {
	scheme.Default(obj)
	return obj
}

func ptr[T any](v T) *T { return &v }

func nsMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", ResourceVersion: "1"}
}

func clusterMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, ResourceVersion: "1"}
}

var appLabels = map[string]string{"app": "web"}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: "web", Image: "nginx:1.27",
			Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
			Env:          []corev1.EnvVar{{Name: "MODE", Value: "prod"}},
			VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/web"}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}},
		}},
		Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web"}}}}},
	}
}

func template() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: appLabels}, Spec: podSpec()}
}

func validPod() *corev1.Pod {
	return defaulted(&corev1.Pod{ObjectMeta: nsMeta("web"), Spec: podSpec()})
}

func validService() *corev1.Service {
	return defaulted(&corev1.Service{ObjectMeta: nsMeta("web"), Spec: corev1.ServiceSpec{
		Selector: appLabels,
		Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}, {Name: "https", Port: 443}},
	}})
}

func validDeployment() *appsv1.Deployment {
	return defaulted(&appsv1.Deployment{ObjectMeta: nsMeta("web"), Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: template(),
	}})
}

func validStatefulSet() *appsv1.StatefulSet {
	return defaulted(&appsv1.StatefulSet{ObjectMeta: nsMeta("db"), Spec: appsv1.StatefulSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: template(), ServiceName: "db",
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: pvcSpec()}},
	}})
}

func validJob() *batchv1.Job {
	t := template()
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return defaulted(&batchv1.Job{ObjectMeta: nsMeta("batch"), Spec: batchv1.JobSpec{
		Selector: &metav1.LabelSelector{MatchLabels: appLabels}, ManualSelector: ptr(true), Template: t,
	}})
}

func validCronJob() *batchv1.CronJob {
	t := template()
	t.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	return defaulted(&batchv1.CronJob{ObjectMeta: nsMeta("nightly"), Spec: batchv1.CronJobSpec{
		Schedule: "*/5 1-3 * JAN,jul mon-fri", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: t}},
	}})
}

func pvcSpec() corev1.PersistentVolumeClaimSpec {
	return corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}
}

func validPVC() *corev1.PersistentVolumeClaim {
	return defaulted(&corev1.PersistentVolumeClaim{ObjectMeta: nsMeta("data"), Spec: pvcSpec()})
}

func validIngress() *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return defaulted(&networkingv1.Ingress{ObjectMeta: nsMeta("web"), Spec: networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{{Host: "*.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/api", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}},
		}}},
	}})
}

// validObjects has one valid, defaulted object per served kind.
func validObjects() map[string]runtime.Object {
	return map[string]runtime.Object{
		"Namespace":   defaulted(&corev1.Namespace{ObjectMeta: clusterMeta("team-a")}),
		"Pod":         validPod(),
		"PodTemplate": defaulted(&corev1.PodTemplate{ObjectMeta: nsMeta("web"), Template: template()}),
		"Service":     validService(),
		"HeadlessService": defaulted(&corev1.Service{ObjectMeta: nsMeta("db"), Spec: corev1.ServiceSpec{
			ClusterIP: "None", Selector: appLabels}}),
		"ExternalNameService": defaulted(&corev1.Service{ObjectMeta: nsMeta("ext"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com."}}),
		"NodePortService": defaulted(&corev1.Service{ObjectMeta: nsMeta("np"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080}}}}),
		"Endpoints": defaulted(&corev1.Endpoints{ObjectMeta: nsMeta("web"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.42.0.5"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}}),
		"ConfigMap": defaulted(&corev1.ConfigMap{ObjectMeta: nsMeta("web"), Data: map[string]string{"app.conf": "x", ".env": "y"}}),
		"Secret":    defaulted(&corev1.Secret{ObjectMeta: nsMeta("web"), Data: map[string][]byte{"password": []byte("x")}}),
		"TLSSecret": defaulted(&corev1.Secret{ObjectMeta: nsMeta("tls"), Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}}),
		"Node": defaulted(&corev1.Node{ObjectMeta: clusterMeta("node-1"), Spec: corev1.NodeSpec{
			PodCIDR: "10.42.0.0/24", PodCIDRs: []string{"10.42.0.0/24"},
			Taints: []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}}}),
		"Event": &corev1.Event{ObjectMeta: nsMeta("web.1234"), InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
			Type: corev1.EventTypeNormal},
		"ServiceAccount": &corev1.ServiceAccount{ObjectMeta: nsMeta("builder")},
		"PersistentVolume": defaulted(&corev1.PersistentVolume{ObjectMeta: clusterMeta("pv-1"), Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}}}}),
		"PersistentVolumeClaim": validPVC(),
		"ResourceQuota": &corev1.ResourceQuota{ObjectMeta: nsMeta("quota"), Spec: corev1.ResourceQuotaSpec{
			Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10"), "requests.cpu": resource.MustParse("4")}}},
		"LimitRange": defaulted(&corev1.LimitRange{ObjectMeta: nsMeta("limits"), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			Min: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}),

		"Deployment": validDeployment(),
		"ReplicaSet": defaulted(&appsv1.ReplicaSet{ObjectMeta: nsMeta("web-1"), Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: template()}}),
		"StatefulSet": validStatefulSet(),
		"DaemonSet": defaulted(&appsv1.DaemonSet{ObjectMeta: nsMeta("agent"), Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: template()}}),
		"ControllerRevision": &appsv1.ControllerRevision{ObjectMeta: nsMeta("web-abc"), Revision: 2},

		"Job":     validJob(),
		"CronJob": validCronJob(),

		"Lease": &coordinationv1.Lease{ObjectMeta: nsMeta("leader"), Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr("a"), LeaseDurationSeconds: ptr(int32(15))}},
		"EndpointSlice": defaulted(&discoveryv1.EndpointSlice{ObjectMeta: nsMeta("web-abc"), AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.5"}}},
			Ports:     []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(80))}}}),
		"Ingress": validIngress(),
		"IngressClass": defaulted(&networkingv1.IngressClass{ObjectMeta: clusterMeta("nginx"), Spec: networkingv1.IngressClassSpec{
			Controller: "k8s.io/ingress-nginx"}}),
		"NetworkPolicy": defaulted(&networkingv1.NetworkPolicy{ObjectMeta: nsMeta("deny"), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: appLabels},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromInt32(8000)), EndPort: ptr(int32(9000))}},
				From:  []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}},
			}}}}),

		"HPAv1": defaulted(&autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: nsMeta("web"), Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}, MaxReplicas: 5}}),
		"HPAv2": defaulted(&autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: nsMeta("web"), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}, MaxReplicas: 5,
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{}}}),
		"PodDisruptionBudget": &policyv1.PodDisruptionBudget{ObjectMeta: nsMeta("web"), Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr(intstr.FromString("50%")), Selector: &metav1.LabelSelector{MatchLabels: appLabels}}},

		"Role": &rbacv1.Role{ObjectMeta: nsMeta("reader"), Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}}},
		"ClusterRole": &rbacv1.ClusterRole{ObjectMeta: clusterMeta("system:metrics"), Rules: []rbacv1.PolicyRule{{
			NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}},
		"RoleBinding": defaulted(&rbacv1.RoleBinding{ObjectMeta: nsMeta("reader"),
			RoleRef:  rbacv1.RoleRef{Kind: "Role", Name: "reader"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder"}, {Kind: "User", Name: "alice@example.com"}}}),
		"ClusterRoleBinding": defaulted(&rbacv1.ClusterRoleBinding{ObjectMeta: clusterMeta("metrics"),
			RoleRef:  rbacv1.RoleRef{Kind: "ClusterRole", Name: "system:metrics"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prom", Namespace: "monitoring"}}}),

		"PriorityClass": defaulted(&schedulingv1.PriorityClass{ObjectMeta: clusterMeta("high"), Value: 1000}),
		"StorageClass": defaulted(&storagev1.StorageClass{ObjectMeta: clusterMeta("local"), Provisioner: "rancher.io/local-path",
			Parameters: map[string]string{"type": "ssd"}}),
		"EventsEvent": &eventsv1.Event{ObjectMeta: nsMeta("web.1234"), EventTime: metav1.NowMicro(), Type: "Normal",
			ReportingController: "corral.io/scheduler", ReportingInstance: "corral-1", Action: "Binding", Reason: "Scheduled",
			Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"}},
	}
}
