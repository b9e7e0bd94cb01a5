package defaults

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := RegisterDefaults(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// check fails the test when got differs from want.
func check[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: "app", Image: "nginx",
			Ports:          []corev1.ContainerPort{{ContainerPort: 80}},
			Env:            []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
			Resources:      corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}},
		}},
		Volumes: []corev1.Volume{
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}},
			{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
			{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}},
			{Name: "scratch"},
		},
	}
}

// checkPodSpec verifies the pod spec defaults shared by pods and templates.
func checkPodSpec(t *testing.T, spec *corev1.PodSpec) {
	t.Helper()
	check(t, "restartPolicy", spec.RestartPolicy, corev1.RestartPolicyAlways)
	check(t, "dnsPolicy", spec.DNSPolicy, corev1.DNSClusterFirst)
	check(t, "terminationGracePeriodSeconds", spec.TerminationGracePeriodSeconds, ptrTo(int64(30)))
	check(t, "schedulerName", spec.SchedulerName, "default-scheduler")
	check(t, "securityContext", spec.SecurityContext, &corev1.PodSecurityContext{})
	c := spec.Containers[0]
	check(t, "terminationMessagePath", c.TerminationMessagePath, "/dev/termination-log")
	check(t, "terminationMessagePolicy", c.TerminationMessagePolicy, corev1.TerminationMessageReadFile)
	check(t, "imagePullPolicy", c.ImagePullPolicy, corev1.PullAlways)
	check(t, "port protocol", c.Ports[0].Protocol, corev1.ProtocolTCP)
	check(t, "fieldRef apiVersion", c.Env[0].ValueFrom.FieldRef.APIVersion, "v1")
	p := c.ReadinessProbe
	check(t, "probe", []int32{p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold}, []int32{1, 10, 1, 3})
	check(t, "httpGet scheme", p.HTTPGet.Scheme, corev1.URISchemeHTTP)
	check(t, "httpGet path", p.HTTPGet.Path, "/")
	check(t, "configMap defaultMode", spec.Volumes[0].ConfigMap.DefaultMode, ptrTo(int32(420)))
	check(t, "secret defaultMode", spec.Volumes[1].Secret.DefaultMode, ptrTo(int32(420)))
	check(t, "hostPath type", spec.Volumes[2].HostPath.Type, ptrTo(corev1.HostPathUnset))
	check(t, "emptyDir", spec.Volumes[3].EmptyDir, &corev1.EmptyDirVolumeSource{})
}

func TestPodDefaults(t *testing.T) {
	pod := &corev1.Pod{Spec: podSpec()}
	newScheme(t).Default(pod)
	checkPodSpec(t, &pod.Spec)
	check(t, "enableServiceLinks", pod.Spec.EnableServiceLinks, ptrTo(true))
	check(t, "requests from limits", pod.Spec.Containers[0].Resources.Requests,
		corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")})
	check(t, "preemptionPolicy", pod.Spec.PreemptionPolicy, (*corev1.PreemptionPolicy)(nil))
	check(t, "priority", pod.Spec.Priority, (*int32)(nil))
}

func TestPodDefaultsKeepUserValues(t *testing.T) {
	spec := podSpec()
	spec.RestartPolicy = corev1.RestartPolicyNever
	spec.DNSPolicy = corev1.DNSDefault
	spec.Containers[0].ImagePullPolicy = corev1.PullNever
	pod := &corev1.Pod{Spec: spec}
	newScheme(t).Default(pod)
	check(t, "restartPolicy", pod.Spec.RestartPolicy, corev1.RestartPolicyNever)
	check(t, "dnsPolicy", pod.Spec.DNSPolicy, corev1.DNSDefault)
	check(t, "imagePullPolicy", pod.Spec.Containers[0].ImagePullPolicy, corev1.PullNever)
}

func TestImagePullPolicy(t *testing.T) {
	for image, want := range map[string]corev1.PullPolicy{
		"nginx":                     corev1.PullAlways,
		"nginx:latest":              corev1.PullAlways,
		"nginx:1.27":                corev1.PullIfNotPresent,
		"localhost:5000/nginx":      corev1.PullAlways,
		"localhost:5000/nginx:1.0":  corev1.PullIfNotPresent,
		"nginx@sha256:abcdef":       corev1.PullIfNotPresent,
		"nginx:latest@sha256:abcde": corev1.PullAlways,
		"nginx:1.0@sha256:abcdef":   corev1.PullIfNotPresent,
	} {
		if got := pullPolicyFor(image); got != want {
			t.Errorf("pullPolicyFor(%q) = %s, want %s", image, got, want)
		}
	}
}

func TestDeploymentDefaults(t *testing.T) {
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: podSpec()}}}
	newScheme(t).Default(d)
	check(t, "replicas", d.Spec.Replicas, ptrTo(int32(1)))
	check(t, "strategy", d.Spec.Strategy, appsv1.DeploymentStrategy{
		Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxUnavailable: ptrTo(intstr.FromString("25%")), MaxSurge: ptrTo(intstr.FromString("25%")),
		},
	})
	check(t, "revisionHistoryLimit", d.Spec.RevisionHistoryLimit, ptrTo(int32(10)))
	check(t, "progressDeadlineSeconds", d.Spec.ProgressDeadlineSeconds, ptrTo(int32(600)))
	checkPodSpec(t, &d.Spec.Template.Spec)
	// Templates, unlike pods, keep requests and service links unset.
	check(t, "template enableServiceLinks", d.Spec.Template.Spec.EnableServiceLinks, (*bool)(nil))
	check(t, "template requests", d.Spec.Template.Spec.Containers[0].Resources.Requests, corev1.ResourceList(nil))
}

func TestRecreateDeploymentHasNoRollingUpdate(t *testing.T) {
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}
	newScheme(t).Default(d)
	check(t, "rollingUpdate", d.Spec.Strategy.RollingUpdate, (*appsv1.RollingUpdateDeployment)(nil))
}

func TestWorkloadDefaults(t *testing.T) {
	s := newScheme(t)

	rs := &appsv1.ReplicaSet{}
	s.Default(rs)
	check(t, "replicaset replicas", rs.Spec.Replicas, ptrTo(int32(1)))

	ss := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{}}}}
	s.Default(ss)
	check(t, "statefulset replicas", ss.Spec.Replicas, ptrTo(int32(1)))
	check(t, "podManagementPolicy", ss.Spec.PodManagementPolicy, appsv1.OrderedReadyPodManagement)
	check(t, "updateStrategy", ss.Spec.UpdateStrategy, appsv1.StatefulSetUpdateStrategy{
		Type:          appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptrTo(int32(0)), MaxUnavailable: ptrTo(intstr.FromInt32(1))},
	})
	check(t, "retention", ss.Spec.PersistentVolumeClaimRetentionPolicy, &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	})
	check(t, "statefulset revisionHistoryLimit", ss.Spec.RevisionHistoryLimit, ptrTo(int32(10)))
	check(t, "claim template volumeMode", ss.Spec.VolumeClaimTemplates[0].Spec.VolumeMode, ptrTo(corev1.PersistentVolumeFilesystem))

	ds := &appsv1.DaemonSet{}
	s.Default(ds)
	check(t, "daemonset updateStrategy", ds.Spec.UpdateStrategy, appsv1.DaemonSetUpdateStrategy{
		Type:          appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptrTo(intstr.FromInt32(1)), MaxSurge: ptrTo(intstr.FromInt32(0))},
	})
	check(t, "daemonset revisionHistoryLimit", ds.Spec.RevisionHistoryLimit, ptrTo(int32(10)))
}

func TestJobDefaults(t *testing.T) {
	tests := []struct {
		name                   string
		completions, parallel  *int32
		wantCompl, wantParalel *int32
	}{
		{"neither set", nil, nil, ptrTo(int32(1)), ptrTo(int32(1))},
		{"work queue", nil, ptrTo(int32(5)), nil, ptrTo(int32(5))},
		{"fixed count", ptrTo(int32(4)), nil, ptrTo(int32(4)), ptrTo(int32(1))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := &batchv1.Job{Spec: batchv1.JobSpec{Completions: tc.completions, Parallelism: tc.parallel}}
			job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
			newScheme(t).Default(job)
			check(t, "completions", job.Spec.Completions, tc.wantCompl)
			check(t, "parallelism", job.Spec.Parallelism, tc.wantParalel)
			check(t, "backoffLimit", job.Spec.BackoffLimit, ptrTo(int32(6)))
			check(t, "completionMode", job.Spec.CompletionMode, ptrTo(batchv1.NonIndexedCompletion))
			check(t, "suspend", job.Spec.Suspend, ptrTo(false))
			check(t, "podReplacementPolicy", job.Spec.PodReplacementPolicy, ptrTo(batchv1.TerminatingOrFailed))
			check(t, "template restartPolicy", job.Spec.Template.Spec.RestartPolicy, corev1.RestartPolicyNever)
			check(t, "selector", job.Spec.Selector, (*metav1.LabelSelector)(nil))
		})
	}
}

func TestCronJobDefaults(t *testing.T) {
	cj := &batchv1.CronJob{}
	newScheme(t).Default(cj)
	check(t, "concurrencyPolicy", cj.Spec.ConcurrencyPolicy, batchv1.AllowConcurrent)
	check(t, "suspend", cj.Spec.Suspend, ptrTo(false))
	check(t, "successfulJobsHistoryLimit", cj.Spec.SuccessfulJobsHistoryLimit, ptrTo(int32(3)))
	check(t, "failedJobsHistoryLimit", cj.Spec.FailedJobsHistoryLimit, ptrTo(int32(1)))
	check(t, "template dnsPolicy", cj.Spec.JobTemplate.Spec.Template.Spec.DNSPolicy, corev1.DNSClusterFirst)
	check(t, "job backoffLimit", cj.Spec.JobTemplate.Spec.BackoffLimit, (*int32)(nil))
}

func TestServiceDefaults(t *testing.T) {
	tests := []struct {
		name     string
		spec     corev1.ServiceSpec
		wantETP  corev1.ServiceExternalTrafficPolicy
		wantPol  corev1.IPFamilyPolicy
		wantFams []corev1.IPFamily
	}{
		{"cluster ip", corev1.ServiceSpec{Selector: map[string]string{"a": "b"}, Ports: []corev1.ServicePort{{Port: 80}}},
			"", corev1.IPFamilyPolicySingleStack, []corev1.IPFamily{corev1.IPv4Protocol}},
		{"node port", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}},
			corev1.ServiceExternalTrafficPolicyCluster, corev1.IPFamilyPolicySingleStack, []corev1.IPFamily{corev1.IPv4Protocol}},
		{"headless no selector", corev1.ServiceSpec{ClusterIP: "None"},
			"", corev1.IPFamilyPolicyRequireDualStack, []corev1.IPFamily{corev1.IPv4Protocol}},
		{"ipv6 cluster ip", corev1.ServiceSpec{ClusterIP: "fd00::10", Ports: []corev1.ServicePort{{Port: 80}}},
			"", corev1.IPFamilyPolicySingleStack, []corev1.IPFamily{corev1.IPv6Protocol}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := &corev1.Service{Spec: tc.spec}
			newScheme(t).Default(svc)
			check(t, "externalTrafficPolicy", svc.Spec.ExternalTrafficPolicy, tc.wantETP)
			check(t, "ipFamilyPolicy", svc.Spec.IPFamilyPolicy, &tc.wantPol)
			check(t, "ipFamilies", svc.Spec.IPFamilies, tc.wantFams)
			check(t, "sessionAffinity", svc.Spec.SessionAffinity, corev1.ServiceAffinityNone)
			check(t, "internalTrafficPolicy", svc.Spec.InternalTrafficPolicy, ptrTo(corev1.ServiceInternalTrafficPolicyCluster))
			if svc.Spec.Type == "" {
				t.Error("type not defaulted")
			}
			for _, p := range svc.Spec.Ports {
				check(t, "port protocol", p.Protocol, corev1.ProtocolTCP)
				check(t, "targetPort", p.TargetPort, intstr.FromInt32(p.Port))
			}
		})
	}
}

func TestExternalNameServiceDefaults(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}}
	newScheme(t).Default(svc)
	check(t, "ipFamilyPolicy", svc.Spec.IPFamilyPolicy, (*corev1.IPFamilyPolicy)(nil))
	check(t, "internalTrafficPolicy", svc.Spec.InternalTrafficPolicy, (*corev1.ServiceInternalTrafficPolicy)(nil))
}

func TestCoreDefaults(t *testing.T) {
	s := newScheme(t)

	sec := &corev1.Secret{StringData: map[string]string{"k": "v"}}
	s.Default(sec)
	check(t, "secret type", sec.Type, corev1.SecretTypeOpaque)
	check(t, "secret data", sec.Data, map[string][]byte{"k": []byte("v")})
	check(t, "secret stringData", sec.StringData, map[string]string(nil))

	pv := &corev1.PersistentVolume{}
	s.Default(pv)
	check(t, "pv reclaimPolicy", pv.Spec.PersistentVolumeReclaimPolicy, corev1.PersistentVolumeReclaimRetain)
	check(t, "pv volumeMode", pv.Spec.VolumeMode, ptrTo(corev1.PersistentVolumeFilesystem))

	pvc := &corev1.PersistentVolumeClaim{}
	s.Default(pvc)
	check(t, "pvc volumeMode", pvc.Spec.VolumeMode, ptrTo(corev1.PersistentVolumeFilesystem))

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}
	s.Default(ns)
	check(t, "namespace label", ns.Labels, map[string]string{corev1.LabelMetadataName: "team"})
	check(t, "namespace phase", ns.Status.Phase, corev1.NamespacePhase(""))

	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}}}}}
	s.Default(ep)
	check(t, "endpoints protocol", ep.Subsets[0].Ports[0].Protocol, corev1.ProtocolTCP)

	cpu := resource.MustParse("1")
	lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceCPU: cpu},
	}}}}
	s.Default(lr)
	check(t, "limitrange default", lr.Spec.Limits[0].Default, corev1.ResourceList{corev1.ResourceCPU: cpu})
	check(t, "limitrange defaultRequest", lr.Spec.Limits[0].DefaultRequest, corev1.ResourceList{corev1.ResourceCPU: cpu})
}

func TestOtherGroupDefaults(t *testing.T) {
	s := newScheme(t)

	es := &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{}}}
	s.Default(es)
	check(t, "slice protocol", es.Ports[0].Protocol, ptrTo(corev1.ProtocolTCP))

	np := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
		Egress: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{}}}},
	}}
	s.Default(np)
	check(t, "policyTypes", np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress})
	check(t, "policy port protocol", np.Spec.Egress[0].Ports[0].Protocol, ptrTo(corev1.ProtocolTCP))

	hpa := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{},
	}}
	s.Default(hpa)
	check(t, "hpa minReplicas", hpa.Spec.MinReplicas, ptrTo(int32(1)))
	check(t, "hpa metric", hpa.Spec.Metrics[0].Resource.Target.AverageUtilization, ptrTo(int32(80)))
	check(t, "scaleUp window", hpa.Spec.Behavior.ScaleUp.StabilizationWindowSeconds, ptrTo(int32(0)))
	check(t, "scaleDown policies", len(hpa.Spec.Behavior.ScaleDown.Policies), 1)

	rb := &rbacv1.RoleBinding{Subjects: []rbacv1.Subject{{Kind: "User", Name: "u"}, {Kind: "ServiceAccount", Name: "sa"}}}
	s.Default(rb)
	check(t, "roleRef apiGroup", rb.RoleRef.APIGroup, rbacv1.GroupName)
	check(t, "user apiGroup", rb.Subjects[0].APIGroup, rbacv1.GroupName)
	check(t, "sa apiGroup", rb.Subjects[1].APIGroup, "")

	sc := &storagev1.StorageClass{}
	s.Default(sc)
	check(t, "reclaimPolicy", sc.ReclaimPolicy, ptrTo(corev1.PersistentVolumeReclaimDelete))
	check(t, "volumeBindingMode", sc.VolumeBindingMode, ptrTo(storagev1.VolumeBindingImmediate))

	pc := &schedulingv1.PriorityClass{}
	s.Default(pc)
	check(t, "preemptionPolicy", pc.PreemptionPolicy, ptrTo(corev1.PreemptLowerPriority))
}
