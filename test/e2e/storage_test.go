package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// The server creates the default StorageClass local-path; a StatefulSet's
// claims without a class get it, are provisioned on the node once their
// pods are scheduled, and keep their data across pod deletion and
// scale down/up.
func TestStatefulSetLocalPathVolumes(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	ctx := context.Background()

	sc, err := c.client.StorageV1().StorageClasses().Get(ctx, "local-path", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Provisioner != "corral.dev/local-path" || ptr.Deref(sc.VolumeBindingMode, "") != storagev1.VolumeBindingWaitForFirstConsumer ||
		ptr.Deref(sc.ReclaimPolicy, "") != corev1.PersistentVolumeReclaimDelete || sc.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" {
		t.Fatalf("StorageClass local-path: %+v", sc)
	}

	// Each start appends a line to the volume, then prints what it holds.
	script := `echo "start $(hostname)" >> /data/history; cat /data/history; echo ---; exec sleep 3600`
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](2),
			ServiceName:         "web",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{Name: "main", Image: busybox, Command: []string{"sh", "-c", script},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
				},
			}},
		},
	}
	if _, err := c.client.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	firstUID := map[string]string{}
	for _, name := range []string{"web-0", "web-1"} {
		p := c.waitPod(t, ns, name, 2*time.Minute, "Running", running)
		firstUID[name] = string(p.UID)
		c.waitLog(t, ns, name, "start "+name+"\n---", time.Minute)
	}

	// The claims got the default class, were provisioned on this node
	// under the server's data directory and are Bound.
	for _, name := range []string{"data-web-0", "data-web-1"} {
		pvc, err := c.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ptr.Deref(pvc.Spec.StorageClassName, "") != "local-path" || pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
			t.Fatalf("claim %s: class %v, phase %s, volume %q", name, ptr.Deref(pvc.Spec.StorageClassName, "<nil>"), pvc.Status.Phase, pvc.Spec.VolumeName)
		}
		pv, err := c.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pv.Status.Phase != corev1.VolumeBound || pv.Spec.HostPath == nil || !strings.HasPrefix(pv.Spec.HostPath.Path, filepath.Join(c.dir, "storage")+"/") {
			t.Fatalf("volume %s: phase %s, source %+v (want a hostPath under %s/storage)", pv.Name, pv.Status.Phase, pv.Spec.PersistentVolumeSource, c.dir)
		}
		terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
		if len(terms) != 1 || terms[0].MatchExpressions[0].Values[0] != c.nodeName {
			t.Fatalf("volume %s is not pinned to node %s: %+v", pv.Name, c.nodeName, pv.Spec.NodeAffinity)
		}
		b, err := os.ReadFile(filepath.Join(pv.Spec.HostPath.Path, "history"))
		want := "start web-" + strings.TrimPrefix(name, "data-web-") + "\n"
		if err != nil || string(b) != want {
			t.Fatalf("volume %s on the node holds %q (%v), want %q", pv.Name, b, err, want)
		}
	}

	// A deleted pod's replacement sees what its predecessor wrote.
	if err := c.client.CoreV1().Pods(ns).Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitPod(t, ns, "web-0", 2*time.Minute, "replaced and Running", func(p *corev1.Pod) bool {
		return string(p.UID) != firstUID["web-0"] && running(p)
	})
	c.waitLog(t, ns, "web-0", "start web-0\nstart web-0\n---", time.Minute)

	// Scale down to one and up again: web-1's claim stays (retention
	// Retain by default) and its new pod finds its data.
	scale := func(n int32) {
		t.Helper()
		s, err := c.client.AppsV1().StatefulSets(ns).GetScale(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Spec.Replicas = n
		if _, err := c.client.AppsV1().StatefulSets(ns).UpdateScale(ctx, "web", s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	scale(1)
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.client.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
		return err != nil, nil
	})
	if err != nil {
		t.Fatal("web-1 was not removed after scaling down to 1")
	}
	if pvc, err := c.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-web-1", metav1.GetOptions{}); err != nil || pvc.Status.Phase != corev1.ClaimBound {
		t.Fatalf("claim data-web-1 after scale down: %v %+v", err, pvc)
	}
	scale(2)
	c.waitPod(t, ns, "web-1", 2*time.Minute, "back and Running", func(p *corev1.Pod) bool {
		return string(p.UID) != firstUID["web-1"] && running(p)
	})
	c.waitLog(t, ns, "web-1", "start web-1\nstart web-1\n---", time.Minute)
}

// A claim created without a class gets the default one; an explicit ""
// keeps none (and stays Pending: nothing provisions it).
func TestDefaultStorageClassAdmission(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	ctx := context.Background()
	claim := func(name string, class *string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}}}}
	}
	got, err := c.client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim("defaulted", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(got.Spec.StorageClassName, "") != "local-path" {
		t.Fatalf("claim without a class got %v", ptr.Deref(got.Spec.StorageClassName, "<nil>"))
	}
	got, err = c.client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim("none", ptr.To("")), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != "" {
		t.Fatalf("claim with class \"\" got %v", ptr.Deref(got.Spec.StorageClassName, "<nil>"))
	}
	// WaitForFirstConsumer: no pod, no volume.
	time.Sleep(time.Second)
	got, err = c.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "defaulted", metav1.GetOptions{})
	if err != nil || got.Status.Phase != corev1.ClaimPending || got.Spec.VolumeName != "" {
		t.Fatalf("a claim without consumer must stay Pending: %v %+v", err, got)
	}
}

// waitLog waits until the container's log contains want.
func (c *cluster) waitLog(t *testing.T, ns, pod, want string, timeout time.Duration) {
	t.Helper()
	var logs string
	err := wait.PollUntilContextTimeout(context.Background(), 300*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		b, err := c.client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(ctx)
		logs = string(b)
		return err == nil && strings.Contains(logs, want), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s: log never showed %q: %s", ns, pod, want, fmt.Sprint(logs))
	}
}
