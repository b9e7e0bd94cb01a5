package integration

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"corral/test/testserver"
)

// TestTwoServersElectOneLeader: two corral servers on one external etcd
// each run a controller manager and a scheduler, but the Leases let one
// of each act: a Deployment gets exactly its replicas, never twice as
// many. When the leading server stops, the other takes the Leases over
// and its controllers act.
func TestTwoServersElectOneLeader(t *testing.T) {
	endpoint := startExternalEtcd(t)
	a, err := testserver.Start(testserver.Options{DatastoreEndpoint: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Cleanup)
	ca := kubernetes.NewForConfigOrDie(a.Config)
	ctx := context.Background()

	holders := func(c kubernetes.Interface) map[string]string {
		out := map[string]string{}
		for _, name := range []string{"corral-controller-manager", "corral-scheduler"} {
			if l, err := c.CoordinationV1().Leases("kube-system").Get(ctx, name, metav1.GetOptions{}); err == nil && l.Spec.HolderIdentity != nil {
				out[name] = *l.Spec.HolderIdentity
			}
		}
		return out
	}
	// The first server takes both leases before the second one starts,
	// so it is the one that leads.
	eventually(t, "both leases held", func(context.Context) (bool, error) { return len(holders(ca)) == 2, nil })
	before := holders(ca)
	b, err := testserver.Start(testserver.Options{DatastoreEndpoint: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Cleanup)
	cb := kubernetes.NewForConfigOrDie(b.Config)

	// Both servers see the same objects; only one controller manager acts.
	ns := "ha"
	if _, err := ca.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	replicas := int32(3)
	labels := map[string]string{"app": "ha"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "ha"}, Spec: appsv1.DeploymentSpec{
		Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}}}}
	if _, err := cb.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	countPods := func(c kubernetes.Interface) int {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=ha"})
		if err != nil {
			return -1
		}
		return len(pods.Items)
	}
	eventually(t, "3 pods", func(context.Context) (bool, error) { return countPods(cb) == 3, nil })
	// Two acting ReplicaSet controllers would each create the missing
	// pods; watch a while for more than 3.
	most := 0
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		most = max(most, countPods(ca))
		return false, nil
	})
	if most != 3 {
		t.Fatalf("with two servers the Deployment reached %d pods, want exactly 3", most)
	}
	if rss, err := ca.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{}); err != nil || len(rss.Items) != 1 {
		t.Fatalf("want one ReplicaSet, got %v (%v)", rss, err)
	}

	if now := holders(cb); now["corral-controller-manager"] != before["corral-controller-manager"] || now["corral-scheduler"] != before["corral-scheduler"] {
		t.Fatalf("the leases moved while the first server ran: %v, then %v", before, now)
	}

	// The leading server stops; the second takes both leases over and
	// acts alone.
	start := time.Now()
	a.Stop()
	eventually(t, "leases taken over by the surviving server", func(ctx context.Context) (bool, error) {
		for _, name := range []string{"corral-controller-manager", "corral-scheduler"} {
			l, err := cb.CoordinationV1().Leases("kube-system").Get(ctx, name, metav1.GetOptions{})
			if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || *l.Spec.HolderIdentity == before[name] {
				return false, nil
			}
		}
		return true, nil
	})
	t.Logf("leases taken over %s after the leader stopped: %v -> %v", time.Since(start).Round(100*time.Millisecond), before, holders(cb))
	scale, err := cb.AppsV1().Deployments(ns).GetScale(ctx, "ha", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 5
	if _, err := cb.AppsV1().Deployments(ns).UpdateScale(ctx, "ha", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "5 pods through the surviving server's controllers", func(context.Context) (bool, error) { return countPods(cb) == 5, nil })
}
