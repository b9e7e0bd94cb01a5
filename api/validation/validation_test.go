package validation

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// with returns obj after applying change to it.
func with[T runtime.Object](obj T, change func(T)) T {
	change(obj)
	return obj
}

// expectError fails unless errs holds an error of type typ at path.
func expectError(t *testing.T, errs field.ErrorList, path string, typ field.ErrorType) {
	t.Helper()
	for _, e := range errs {
		if e.Field == path && e.Type == typ {
			return
		}
	}
	t.Errorf("want %s error at %q, got %v", typ, path, errs)
}

func TestValidObjectsPass(t *testing.T) {
	for name, obj := range validObjects() {
		t.Run(name, func(t *testing.T) {
			if errs := ValidateCreate(obj); len(errs) > 0 {
				t.Errorf("create: %v", errs)
			}
			if errs := ValidateUpdate(obj, obj.DeepCopyObject()); len(errs) > 0 {
				t.Errorf("update: %v", errs)
			}
			if errs := ValidateStatusUpdate(obj, obj.DeepCopyObject()); len(errs) > 0 {
				t.Errorf("status update: %v", errs)
			}
		})
	}
}

func TestUnknownTypesAreNotValidated(t *testing.T) {
	obj := &metav1.Status{}
	if errs := ValidateCreate(obj); errs != nil {
		t.Errorf("got %v", errs)
	}
	if errs := ValidateUpdate(obj, obj); errs != nil {
		t.Errorf("got %v", errs)
	}
}

func TestUpdateWithMismatchedTypes(t *testing.T) {
	errs := ValidateUpdate(validPod(), validService())
	expectError(t, errs, "<nil>", field.ErrorTypeInternal)
}

type invalidCase struct {
	name string
	obj  runtime.Object
	path string
	typ  field.ErrorType
}

func TestCreateInvalid(t *testing.T) {
	tests := []invalidCase{
		// metadata
		{"pod name", with(validPod(), func(p *corev1.Pod) { p.Name = "Web_1" }), "metadata.name", field.ErrorTypeInvalid},
		{"missing name", with(validPod(), func(p *corev1.Pod) { p.Name = "" }), "metadata.name", field.ErrorTypeRequired},
		{"missing namespace", with(validPod(), func(p *corev1.Pod) { p.Namespace = "" }), "metadata.namespace", field.ErrorTypeRequired},
		{"cluster scoped with namespace", with(validObjects()["Node"].(*corev1.Node), func(n *corev1.Node) { n.Namespace = "default" }),
			"metadata.namespace", field.ErrorTypeForbidden},
		{"bad label value", with(validPod(), func(p *corev1.Pod) { p.Labels = map[string]string{"a": "not valid!"} }),
			"metadata.labels", field.ErrorTypeInvalid},
		{"service name must start with letter", with(validService(), func(s *corev1.Service) { s.Name = "1web" }),
			"metadata.name", field.ErrorTypeInvalid},
		{"namespace name is a label", &corev1.Namespace{ObjectMeta: clusterMeta("a.b")}, "metadata.name", field.ErrorTypeInvalid},
		{"rbac path segment name", &rbacv1.Role{ObjectMeta: nsMeta("a/b")}, "metadata.name", field.ErrorTypeInvalid},

		// pods
		{"no containers", with(validPod(), func(p *corev1.Pod) { p.Spec.Containers = nil }), "spec.containers", field.ErrorTypeRequired},
		{"missing image", with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }),
			"spec.containers[0].image", field.ErrorTypeRequired},
		{"duplicate container", with(validPod(), func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Ports = nil
			p.Spec.InitContainers = []corev1.Container{c}
		}), "spec.containers[0].name", field.ErrorTypeDuplicate},
		{"restart policy", with(validPod(), func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }),
			"spec.restartPolicy", field.ErrorTypeNotSupported},
		{"dns policy", with(validPod(), func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }), "spec.dnsPolicy", field.ErrorTypeNotSupported},
		{"host alias ip", with(validPod(), func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "127.0.0.300", Hostnames: []string{"db"}}}
		}), "spec.hostAliases[0].ip", field.ErrorTypeInvalid},
		{"host alias name", with(validPod(), func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "127.0.0.2", Hostnames: []string{"db", "Not_A_Host"}}}
		}), "spec.hostAliases[0].hostnames[1]", field.ErrorTypeInvalid},
		{"dns none without config", with(validPod(), func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }),
			"spec.dnsConfig", field.ErrorTypeRequired},
		{"container port range", with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 }),
			"spec.containers[0].ports[0].containerPort", field.ErrorTypeInvalid},
		{"port protocol", with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "ICMP" }),
			"spec.containers[0].ports[0].protocol", field.ErrorTypeNotSupported},
		{"request above limit", with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2")
		}), "spec.containers[0].resources.requests[cpu]", field.ErrorTypeInvalid},
		{"duplicate volume", with(validPod(), func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, p.Spec.Volumes[0]) }),
			"spec.volumes[1].name", field.ErrorTypeDuplicate},
		{"two volume sources", with(validPod(), func(p *corev1.Pod) { p.Spec.Volumes[0].EmptyDir = &corev1.EmptyDirVolumeSource{} }),
			"spec.volumes[0].configMap", field.ErrorTypeForbidden},
		{"mount of unknown volume", with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "nope" }),
			"spec.containers[0].volumeMounts[0].name", field.ErrorTypeNotFound},
		{"env var name", with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "A=B" }),
			"spec.containers[0].env[0].name", field.ErrorTypeInvalid},
		{"probe handler", with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe.HTTPGet = nil }),
			"spec.containers[0].readinessProbe", field.ErrorTypeRequired},
		{"liveness success threshold", with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{}},
				SuccessThreshold: 2}
		}), "spec.containers[0].livenessProbe.successThreshold", field.ErrorTypeInvalid},
		{"toleration operator", with(validPod(), func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "a", Operator: "Maybe"}}
		}), "spec.tolerations[0].operator", field.ErrorTypeNotSupported},

		// services
		{"service port range", with(validService(), func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }),
			"spec.ports[0].port", field.ErrorTypeInvalid},
		{"service port names unique", with(validService(), func(s *corev1.Service) { s.Spec.Ports[1].Name = "http" }),
			"spec.ports[1].name", field.ErrorTypeDuplicate},
		{"service port name required", with(validService(), func(s *corev1.Service) { s.Spec.Ports[1].Name = "" }),
			"spec.ports[1].name", field.ErrorTypeRequired},
		{"service target port", with(validService(), func(s *corev1.Service) { s.Spec.Ports[1].TargetPort = intstr.FromInt32(99999) }),
			"spec.ports[1].targetPort", field.ErrorTypeInvalid},
		{"service type", with(validService(), func(s *corev1.Service) { s.Spec.Type = "Public" }), "spec.type", field.ErrorTypeNotSupported},
		{"headless node port", defaulted(&corev1.Service{ObjectMeta: nsMeta("x"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, ClusterIP: "None", Ports: []corev1.ServicePort{{Port: 80}}}}),
			"spec.clusterIPs[0]", field.ErrorTypeInvalid},
		{"node port range", defaulted(&corev1.Service{ObjectMeta: nsMeta("x"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, NodePort: 8080}}}}),
			"spec.ports[0].nodePort", field.ErrorTypeInvalid},
		{"node port on cluster ip", with(validService(), func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30001 }),
			"spec.ports[0].nodePort", field.ErrorTypeForbidden},
		{"no ports", with(validService(), func(s *corev1.Service) { s.Spec.Ports = nil }), "spec.ports", field.ErrorTypeRequired},

		// config
		{"configmap key", &corev1.ConfigMap{ObjectMeta: nsMeta("c"), Data: map[string]string{"a/b": ""}}, "data[a/b]", field.ErrorTypeInvalid},
		{"configmap size", &corev1.ConfigMap{ObjectMeta: nsMeta("c"), Data: map[string]string{"a": strings.Repeat("x", 1<<20+1)}},
			"data", field.ErrorTypeTooLong},
		{"tls secret keys", defaulted(&corev1.Secret{ObjectMeta: nsMeta("s"), Type: corev1.SecretTypeTLS}), "data[tls.crt]", field.ErrorTypeRequired},

		// workloads
		{"deployment selector mismatch", with(validDeployment(), func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "db"} }),
			"spec.template.metadata.labels", field.ErrorTypeInvalid},
		{"deployment empty selector", with(validDeployment(), func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }),
			"spec.selector", field.ErrorTypeInvalid},
		{"deployment missing selector", with(validDeployment(), func(d *appsv1.Deployment) { d.Spec.Selector = nil }),
			"spec.selector", field.ErrorTypeRequired},
		{"deployment negative replicas", with(validDeployment(), func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(-1)) }),
			"spec.replicas", field.ErrorTypeInvalid},
		{"deployment surge and unavailable zero", with(validDeployment(), func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr(intstr.FromInt32(0))
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("0%"))
		}), "spec.strategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid},
		{"deployment restart policy", with(validDeployment(), func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }),
			"spec.template.spec.restartPolicy", field.ErrorTypeNotSupported},
		{"deployment container image", with(validDeployment(), func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" }),
			"spec.template.spec.containers[0].image", field.ErrorTypeRequired},
		{"statefulset claim template", with(validStatefulSet(), func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil }),
			"spec.volumeClaimTemplates[0].spec.accessModes", field.ErrorTypeRequired},

		// batch
		{"job restart always", with(validJob(), func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways }),
			"spec.template.spec.restartPolicy", field.ErrorTypeNotSupported},
		{"job selector mismatch", with(validJob(), func(j *batchv1.Job) { j.Spec.Selector.MatchLabels = map[string]string{"app": "x"} }),
			"spec.template.metadata.labels", field.ErrorTypeInvalid},
		{"indexed job needs completions", with(validJob(), func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}), "spec.completions", field.ErrorTypeRequired},
		{"cron schedule empty", with(validCronJob(), func(c *batchv1.CronJob) { c.Spec.Schedule = "" }), "spec.schedule", field.ErrorTypeRequired},
		{"cron schedule fields", with(validCronJob(), func(c *batchv1.CronJob) { c.Spec.Schedule = "* * *" }), "spec.schedule", field.ErrorTypeInvalid},
		{"cron schedule range", with(validCronJob(), func(c *batchv1.CronJob) { c.Spec.Schedule = "61 * * * *" }), "spec.schedule", field.ErrorTypeInvalid},
		{"cron name length", with(validCronJob(), func(c *batchv1.CronJob) { c.Name = strings.Repeat("a", 53) }), "metadata.name", field.ErrorTypeInvalid},
		{"cron job template restart policy", with(validCronJob(), func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}), "spec.jobTemplate.spec.template.spec.restartPolicy", field.ErrorTypeNotSupported},
		{"cron concurrency", with(validCronJob(), func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Sometimes" }),
			"spec.concurrencyPolicy", field.ErrorTypeNotSupported},

		// networking
		{"ingress path type prefix needs slash", with(validIngress(), func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Path = "api"
		}), "spec.rules[0].http.paths[0].path", field.ErrorTypeInvalid},
		{"ingress path type required", with(validIngress(), func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].PathType = nil }),
			"spec.rules[0].http.paths[0].pathType", field.ErrorTypeRequired},
		{"ingress backend service name", with(validIngress(), func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = ""
		}), "spec.rules[0].http.paths[0].backend.service.name", field.ErrorTypeRequired},
		{"ingress backend port", with(validIngress(), func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{}
		}), "spec.rules[0].http.paths[0].backend.service.port", field.ErrorTypeInvalid},
		{"ingress host ip", with(validIngress(), func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" }),
			"spec.rules[0].host", field.ErrorTypeInvalid},
		{"network policy ipblock except", with(validObjects()["NetworkPolicy"].(*networkingv1.NetworkPolicy), func(n *networkingv1.NetworkPolicy) {
			n.Spec.Ingress[0].From[0].IPBlock.Except = []string{"192.168.0.0/16"}
		}), "spec.ingress[0].from[0].ipBlock.except[0]", field.ErrorTypeInvalid},
		{"network policy end port", with(validObjects()["NetworkPolicy"].(*networkingv1.NetworkPolicy), func(n *networkingv1.NetworkPolicy) {
			n.Spec.Ingress[0].Ports[0].EndPort = ptr(int32(10))
		}), "spec.ingress[0].ports[0].endPort", field.ErrorTypeInvalid},

		// others
		{"hpa min above max", with(validObjects()["HPAv2"].(*autoscalingv2.HorizontalPodAutoscaler), func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.MinReplicas = ptr(int32(10))
		}), "spec.maxReplicas", field.ErrorTypeInvalid},
		{"pdb both set", with(validObjects()["PodDisruptionBudget"].(*policyv1.PodDisruptionBudget), func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MaxUnavailable = ptr(intstr.FromInt32(1))
		}), "spec", field.ErrorTypeInvalid},
		{"priority too high", with(validObjects()["PriorityClass"].(*schedulingv1.PriorityClass), func(p *schedulingv1.PriorityClass) {
			p.Value = 2000000000
		}), "value", field.ErrorTypeForbidden},
		{"cluster role binding sa namespace", with(validObjects()["ClusterRoleBinding"].(*rbacv1.ClusterRoleBinding), func(b *rbacv1.ClusterRoleBinding) {
			b.Subjects[0].Namespace = ""
		}), "subjects[0].namespace", field.ErrorTypeRequired},
		{"role non-resource url", &rbacv1.Role{ObjectMeta: nsMeta("r"), Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/x"}, Verbs: []string{"get"}}}},
			"rules[0].nonResourceURLs", field.ErrorTypeInvalid},
		{"node pod cidr", with(validObjects()["Node"].(*corev1.Node), func(n *corev1.Node) {
			n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.42.0.0", []string{"10.42.0.0"}
		}), "spec.podCIDR", field.ErrorTypeInvalid},
		{"storage class provisioner", with(validObjects()["StorageClass"].(*storagev1.StorageClass), func(s *storagev1.StorageClass) {
			s.Provisioner = ""
		}), "provisioner", field.ErrorTypeRequired},
		{"pvc storage", with(validPVC(), func(p *corev1.PersistentVolumeClaim) { p.Spec.Resources.Requests = nil }),
			"spec.resources[storage]", field.ErrorTypeRequired},
		{"limit range order", with(validObjects()["LimitRange"].(*corev1.LimitRange), func(l *corev1.LimitRange) {
			l.Spec.Limits[0].Min[corev1.ResourceCPU] = resource.MustParse("3")
		}), "spec.limits[0].min[cpu]", field.ErrorTypeInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, ValidateCreate(tc.obj), tc.path, tc.typ)
		})
	}
}

type updateCase struct {
	name     string
	old, obj runtime.Object
	path     string
	typ      field.ErrorType
}

// changed returns a copy of old with change applied.
func changed[T runtime.Object](old T, change func(T)) T {
	obj := old.DeepCopyObject().(T)
	change(obj)
	return obj
}

func TestUpdateInvalid(t *testing.T) {
	immutableCM := &corev1.ConfigMap{ObjectMeta: nsMeta("c"), Data: map[string]string{"a": "1"}, Immutable: ptr(true)}
	boundPVC := with(validPVC(), func(p *corev1.PersistentVolumeClaim) { p.Status.Phase = corev1.ClaimBound })
	pod := with(validPod(), func(p *corev1.Pod) { p.Spec.NodeName = "node-1" })
	service := with(validService(), func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.10", []string{"10.43.0.10"} })
	tests := []updateCase{
		{"name", validPod(), changed(validPod(), func(p *corev1.Pod) { p.Name = "other" }), "metadata.name", field.ErrorTypeInvalid},
		{"pod spec", pod, changed(pod, func(p *corev1.Pod) { p.Spec.Containers[0].Env = nil }), "spec", field.ErrorTypeForbidden},
		{"pod node name", pod, changed(pod, func(p *corev1.Pod) { p.Spec.NodeName = "node-2" }), "spec.nodeName", field.ErrorTypeInvalid},
		{"pod toleration removed", with(validPod(), func(p *corev1.Pod) { p.Spec.Tolerations = []corev1.Toleration{{Operator: "Exists"}} }),
			validPod(), "spec.tolerations[0]", field.ErrorTypeForbidden},
		{"service cluster ip", service, changed(service, func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.11", []string{"10.43.0.11"}
		}), "spec.clusterIPs[0]", field.ErrorTypeInvalid},
		{"deployment selector", validDeployment(), changed(validDeployment(), func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels = map[string]string{"app": "web", "tier": "x"}
			d.Spec.Template.Labels = d.Spec.Selector.MatchLabels
		}), "spec.selector", field.ErrorTypeInvalid},
		{"statefulset service name", validStatefulSet(), changed(validStatefulSet(), func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "other" }),
			"spec", field.ErrorTypeForbidden},
		{"job template", validJob(), changed(validJob(), func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "nginx:2" }),
			"spec.template", field.ErrorTypeInvalid},
		{"job completions", validJob(), changed(validJob(), func(j *batchv1.Job) { j.Spec.Completions = ptr(int32(3)) }),
			"spec.completions", field.ErrorTypeInvalid},
		{"pvc spec", boundPVC, changed(boundPVC, func(p *corev1.PersistentVolumeClaim) {
			p.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}), "spec", field.ErrorTypeForbidden},
		{"pvc shrink", boundPVC, changed(boundPVC, func(p *corev1.PersistentVolumeClaim) {
			p.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Mi")
		}), "spec.resources.requests.storage", field.ErrorTypeForbidden},
		{"immutable configmap data", immutableCM, changed(immutableCM, func(c *corev1.ConfigMap) { c.Data["a"] = "2" }),
			"data", field.ErrorTypeForbidden},
		{"immutable configmap unset", immutableCM, changed(immutableCM, func(c *corev1.ConfigMap) { c.Immutable = nil }),
			"immutable", field.ErrorTypeForbidden},
		{"secret type", validObjects()["Secret"], changed(validObjects()["Secret"].(*corev1.Secret), func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeBasicAuth
		}), "type", field.ErrorTypeInvalid},
		{"node pod cidr", validObjects()["Node"], changed(validObjects()["Node"].(*corev1.Node), func(n *corev1.Node) {
			n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.42.1.0/24", []string{"10.42.1.0/24"}
		}), "spec.podCIDR", field.ErrorTypeForbidden},
		{"storage class parameters", validObjects()["StorageClass"], changed(validObjects()["StorageClass"].(*storagev1.StorageClass), func(s *storagev1.StorageClass) {
			s.Parameters = map[string]string{"type": "hdd"}
		}), "parameters", field.ErrorTypeForbidden},
		{"role binding role ref", validObjects()["RoleBinding"], changed(validObjects()["RoleBinding"].(*rbacv1.RoleBinding), func(b *rbacv1.RoleBinding) {
			b.RoleRef.Name = "admin"
		}), "roleRef", field.ErrorTypeInvalid},
		{"missing resource version", validPod(), changed(validPod(), func(p *corev1.Pod) { p.ResourceVersion = "" }),
			"metadata.resourceVersion", field.ErrorTypeInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, ValidateUpdate(tc.obj, tc.old), tc.path, tc.typ)
		})
	}
}

func TestAllowedUpdates(t *testing.T) {
	pod := validPod()
	boundPVC := with(validPVC(), func(p *corev1.PersistentVolumeClaim) { p.Status.Phase = corev1.ClaimBound })
	tests := []struct {
		name     string
		old, obj runtime.Object
	}{
		{"pod image", pod, changed(pod, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" })},
		{"pod toleration added", pod, changed(pod, func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: "Exists"})
		})},
		{"pod node name set", pod, changed(pod, func(p *corev1.Pod) { p.Spec.NodeName = "node-1" })},
		{"pvc expand", boundPVC, changed(boundPVC, func(p *corev1.PersistentVolumeClaim) {
			p.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		})},
		{"pvc bind", validPVC(), changed(validPVC(), func(p *corev1.PersistentVolumeClaim) { p.Spec.VolumeName = "pv-1" })},
		{"statefulset scale", validStatefulSet(), changed(validStatefulSet(), func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr(int32(3)) })},
		{"deployment template", validDeployment(), changed(validDeployment(), func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = "nginx:2"
		})},
		{"service to external name", validService(), changed(validService(), func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", SessionAffinity: corev1.ServiceAffinityNone}
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if errs := ValidateUpdate(tc.obj, tc.old); len(errs) > 0 {
				t.Errorf("unexpected errors: %v", errs)
			}
		})
	}
}

func TestErrorMessagesReadLikeUpstream(t *testing.T) {
	old := validDeployment()
	obj := changed(old, func(d *appsv1.Deployment) { d.Spec.Selector.MatchLabels = map[string]string{"x": "y"} })
	errs := ValidateUpdate(obj, old)
	if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), "field is immutable") {
		t.Errorf("got %v, want a 'field is immutable' error", errs)
	}
}

func TestCronSchedules(t *testing.T) {
	for _, s := range []string{"* * * * *", "0 0 * * 0", "*/15 9-17 * * mon-fri", "0 0 1 1 *", "@daily", "@every 1h30m", "0 0 ? * *"} {
		if err := parseCronSchedule(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 7", "5-1 * * * *", "*/0 * * * *", "@often", "a * * * *"} {
		if err := parseCronSchedule(s); err == nil {
			t.Errorf("%q: want error", s)
		}
	}
}
