package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Environment from values, fields, resources, ConfigMaps and Secrets;
// configMap and secret volumes, the configMap one updated in place.
func TestEnvironmentAndConfigVolumes(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	ctx := context.Background()
	if _, err := c.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
		Data: map[string]string{"color": "blue", "greeting": "hello"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"},
		StringData: map[string]string{"password": "s3cret"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := shPod("env", "env | sort; echo files; cat /cfg/color /sec/password; echo; sleep 3600")
	main := &pod.Spec.Containers[0]
	main.Env = []corev1.EnvVar{
		{Name: "PLAIN", Value: "v1"},
		{Name: "EXPANDED", Value: "$(PLAIN)-x"},
		{Name: "MY_POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "MY_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "MEM_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
		{Name: "COLOR", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "color"}}},
		{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "password"}}},
	}
	main.EnvFrom = []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
	main.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
	main.VolumeMounts = []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}, {Name: "sec", MountPath: "/sec"}}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
	}
	c.create(t, ns, pod)
	p := c.waitPod(t, ns, "env", time.Minute, "Running", running)
	var logs string
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		logs, _ = c.kubectl(t, "-n", ns, "logs", "env")
		return strings.Contains(logs, "s3cret"), nil
	})
	for _, want := range []string{"PLAIN=v1\n", "EXPANDED=v1-x\n", "MY_POD=env\n", "MY_IP=" + p.Status.PodIP + "\n", "MEM_MI=64\n",
		"COLOR=blue\n", "PASSWORD=s3cret\n", "CM_greeting=hello\n", "KUBERNETES_SERVICE_HOST=", "files\nblues3cret"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	// Update the ConfigMap: the file in the running container follows.
	cm, err := c.client.CoreV1().ConfigMaps(ns).Get(ctx, "cfg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["color"] = "green"
	if _, err := c.client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got string
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(context.Context) (bool, error) {
		got, _ = c.kubectl(t, "-n", ns, "exec", "env", "--", "cat", "/cfg/color")
		return strings.TrimSpace(got) == "green", nil
	})
	if err != nil {
		t.Fatalf("configMap volume not updated in place: /cfg/color = %q", got)
	}
}

// A preStop hook runs before SIGTERM, within the grace period.
func TestPreStopHook(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	pod := shPod("hooked", "trap 'exit 0' TERM; while true; do sleep 0.1; done")
	pod.Spec.TerminationGracePeriodSeconds = ptrInt64(20)
	pod.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{
		PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo started > /shared/poststart"}}},
		PreStop:   &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo stopping > /shared/prestop"}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
		Path: t.TempDir(), Type: ptrHostPathType(corev1.HostPathDirectory)}}}}
	dir := pod.Spec.Volumes[0].HostPath.Path
	c.create(t, ns, pod)
	c.waitPod(t, ns, "hooked", time.Minute, "Running", running)
	if b, err := readFileEventually(dir+"/poststart", 30*time.Second); err != nil || strings.TrimSpace(b) != "started" {
		t.Fatalf("postStart hook did not run: %q %v", b, err)
	}
	if err := c.client.CoreV1().Pods(ns).Delete(context.Background(), "hooked", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, err := readFileEventually(dir+"/prestop", 30*time.Second); err != nil || strings.TrimSpace(b) != "stopping" {
		t.Fatalf("preStop hook did not run: %q %v", b, err)
	}
}
