package nodelifecycle

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestRun drives the real loop (informers, ticker, workers): a node that
// stops renewing is tainted and its pod deleted.
func TestRun(t *testing.T) {
	objs := append(cluster("n", "", 3), pod("p", "n2"))
	client := fake.NewClientset(objs...)
	clk := clocktesting.NewFakeClock(t0)
	inf := informers.NewSharedInformerFactory(client, 0)
	c := NewController(client, inf.Core().V1().Nodes(), inf.Coordination().V1().Leases(), inf.Core().V1().Pods(), DefaultOptions(), clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inf.Start(ctx.Done())
	done := make(chan struct{})
	go func() { c.Run(ctx, 2); close(done) }()
	defer func() { cancel(); <-done }()

	renew := func(names ...string) {
		for _, n := range names {
			if _, err := client.CoordinationV1().Leases(LeaseNamespace).Update(ctx, lease(n, clk.Now()), metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for !clk.HasWaiters() { // the ticker exists once caches synced
		time.Sleep(time.Millisecond)
	}
	deadline := time.Now().Add(20 * time.Second)
	for step := 0; ; step++ {
		if time.Now().After(deadline) {
			t.Fatal("pod was not evicted")
		}
		if step == 0 {
			renew("n0", "n1", "n2")
		} else {
			renew("n0", "n1")
		}
		time.Sleep(20 * time.Millisecond) // let the informers deliver
		clk.Step(500 * time.Millisecond)
		if _, err := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{}); err != nil {
			break
		}
	}
	n, _ := client.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{})
	if got := taintsOf(n); !equal(got, unreachableTaints) {
		t.Fatalf("taints %v", got)
	}
	if rc := readyCondition(n); rc.Status != corev1.ConditionUnknown {
		t.Fatalf("Ready=%s", rc.Status)
	}
	// Not before grace (5 s) + toleration (2 s). How soon after is a
	// matter of scheduling on a loaded machine, measured by bench, not here.
	if elapsed := clk.Since(t0); elapsed < 7*time.Second {
		t.Fatalf("pod deleted %v after the last renewal, before grace and toleration ran out", elapsed)
	}
}
