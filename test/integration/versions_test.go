package integration

import (
	"context"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
)

// TestHPAServedInTwoVersions creates through autoscaling/v1 and reads
// the same object through v2 (where it is stored), and back.
func TestHPAServedInTwoVersions(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns := newNamespace(t, "hpa")
	target := int32(70)
	min := int32(2)
	v1 := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    &min, MaxReplicas: 5, TargetCPUUtilizationPercentage: &target,
		}}
	if _, err := c.AutoscalingV1().HorizontalPodAutoscalers(ns).Create(ctx, v1, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	v2, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(v2.Spec.Metrics) != 1 || v2.Spec.Metrics[0].Resource == nil || v2.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU ||
		*v2.Spec.Metrics[0].Resource.Target.AverageUtilization != 70 || v2.Spec.MaxReplicas != 5 {
		t.Fatalf("v2 view: %+v", v2.Spec)
	}
	back, err := c.AutoscalingV1().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(back.Items) != 1 || *back.Items[0].Spec.TargetCPUUtilizationPercentage != 70 {
		t.Fatalf("v1 list: %+v %v", back, err)
	}
}

// TestProtobufClient talks protobuf both ways, as recent client-go does.
func TestProtobufClient(t *testing.T) {
	cfg := restclient.CopyConfig(shared.Config)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := newNamespace(t, "protobuf")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}}
	created, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Defaults were applied to the protobuf body too.
	if created.Spec.RestartPolicy != corev1.RestartPolicyAlways || created.Spec.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent {
		t.Fatalf("defaults missing: restartPolicy %q pullPolicy %q", created.Spec.RestartPolicy, created.Spec.Containers[0].ImagePullPolicy)
	}
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("protobuf list: %v %v", list, err)
	}
}

// TestEventsInBothGroups writes an event through each API and reads it
// through the other: both views share one storage, as upstream.
func TestEventsInBothGroups(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns := newNamespace(t, "events")
	ref := corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p", APIVersion: "v1"}
	now := metav1.NowMicro()
	newEvent := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "new"}, EventTime: now, ReportingController: "corral.dev/test",
		ReportingInstance: "test-1", Action: "Testing", Reason: "Tested", Regarding: ref, Note: "from events.k8s.io", Type: "Normal"}
	if _, err := c.EventsV1().Events(ns).Create(ctx, newEvent, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	core, err := c.CoreV1().Events(ns).Get(ctx, "new", metav1.GetOptions{})
	if err != nil || core.Message != "from events.k8s.io" || core.InvolvedObject.Name != "p" || core.ReportingController != "corral.dev/test" {
		t.Fatalf("core view of an events.k8s.io event: %+v %v", core, err)
	}
	old := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "old"}, InvolvedObject: ref, Reason: "Old", Message: "from core/v1",
		Type: "Warning", Source: corev1.EventSource{Component: "test"}, Count: 3}
	if _, err := c.CoreV1().Events(ns).Create(ctx, old, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := c.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("events.k8s.io list: %v %v", list, err)
	}
	for _, e := range list.Items {
		if e.Name == "old" && (e.Note != "from core/v1" || e.DeprecatedCount != 3 || e.Regarding.Name != "p") {
			t.Fatalf("events.k8s.io view of a core event: %+v", e)
		}
	}
}
