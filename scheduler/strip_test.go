package scheduler

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStripPodKeepsWhatPlacementReads(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	container := func(name, cpu string, port int32) corev1.Container {
		return corev1.Container{Name: name, Image: "registry.local/app:1", Command: []string{"run"},
			Env:            []corev1.EnvVar{{Name: "A", Value: "b"}},
			VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			Resources:      corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
			Ports:          []corev1.ContainerPort{{ContainerPort: port, HostPort: port}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}
	}
	sidecar := container("sidecar", "100m", 0)
	sidecar.RestartPolicy = &always
	pod := makePod("web-0", ownedBy("rs-1"), podLabels(appKey, "web"),
		toleration(corev1.TaintNodeNotReady, exists, "", noExec), podAntiAffinity(podTerm(hostname, appKey, "web")))
	pod.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"}
	pod.Spec.InitContainers = []corev1.Container{sidecar, container("init", "2", 0)}
	pod.Spec.Containers = []corev1.Container{container("app", "500m", 8080)}
	pod.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0"}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}}},
		{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
	}
	start := metav1.Now()
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, NominatedNodeName: "n2", StartTime: &start, PodIP: "10.42.0.5",
		Conditions:        []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true}}}

	before := NewPodInfo(pod.DeepCopy())
	obj, err := StripPod(pod.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	stripped := obj.(*corev1.Pod)
	after := NewPodInfo(stripped)
	before.Pod, after.Pod = nil, nil
	if !reflect.DeepEqual(before, after) {
		t.Errorf("scheduling facts changed:\n before %+v\n after  %+v", before, after)
	}
	for i := range pod.Spec.Volumes {
		if a, b := claimName(pod, &pod.Spec.Volumes[i]), claimName(stripped, &stripped.Spec.Volumes[i]); a != b {
			t.Errorf("volume %d: claim %q, was %q", i, b, a)
		}
	}
	if stripped.Status.Phase != corev1.PodRunning || stripped.Status.NominatedNodeName != "n2" || len(stripped.Status.Conditions) != 1 || stripped.Status.StartTime == nil {
		t.Errorf("status the queue and preemption read was dropped: %+v", stripped.Status)
	}
	if stripped.Annotations != nil || stripped.Spec.Containers[0].Env != nil || stripped.Spec.Volumes[2].Projected != nil || stripped.Status.ContainerStatuses != nil {
		t.Errorf("not stripped: %+v", stripped)
	}
	if obj, _ := StripPod(&corev1.Node{}); obj == nil {
		t.Error("a node was not passed through")
	}
}
