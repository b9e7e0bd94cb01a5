package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// benchCluster: 5,000 nodes in 3 zones with 30,000 pods of 1,000
// ReplicaSets bound to them, as in upstream's scheduler_perf scale.
func benchCluster(nodes, pods int) ([]*corev1.Node, []*corev1.Pod) {
	ns := make([]*corev1.Node, nodes)
	for i := range ns {
		ns[i] = makeNode(fmt.Sprintf("node-%05d", i), zone(fmt.Sprintf("zone-%d", i%3)),
			allocatable("cpu", "32"), allocatable("memory", "128Gi"))
	}
	ps := make([]*corev1.Pod, pods)
	for i := range ps {
		rs := fmt.Sprintf("rs-%d", i%1000)
		ps[i] = makePod(fmt.Sprintf("pod-%d", i), ownedBy(rs), podLabels(appKey, rs),
			requests("cpu", "250m", "memory", "512Mi"), onNode(ns[i%nodes].Name))
	}
	return ns, ps
}

func realisticPod(opts ...podOpt) *corev1.Pod {
	base := []podOpt{ownedBy("rs-7"), podLabels(appKey, "rs-7"), requests("cpu", "250m", "memory", "512Mi"),
		toleration(corev1.TaintNodeNotReady, exists, "", noExec)}
	return makePod("incoming", append(base, opts...)...)
}

func benchSchedule(b *testing.B, prof *Profile, pod *corev1.Pod) {
	nodes, pods := benchCluster(5000, 30000)
	snap := NewSnapshot(nodes, pods)
	pi := NewPodInfo(pod)
	start := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := prof.Schedule(pi, snap, start)
		if !d.Scheduled() {
			b.Fatal(d.Message())
		}
		start = (start + d.Evaluated) % len(snap.Nodes)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkSchedule measures the pure decision at 5,000 nodes and 30,000
// bound pods.
func BenchmarkSchedule(b *testing.B) {
	b.Run("adaptive", func(b *testing.B) { benchSchedule(b, DefaultProfile(), realisticPod()) })
	b.Run("all-nodes", func(b *testing.B) {
		p := DefaultProfile()
		p.PercentageOfNodesToScore = 100
		benchSchedule(b, p, realisticPod())
	})
	b.Run("zone-spread", func(b *testing.B) {
		benchSchedule(b, DefaultProfile(), realisticPod(spread(zoneKey, 1, anyway, appKey, "rs-7")))
	})
	b.Run("anti-affinity", func(b *testing.B) {
		benchSchedule(b, DefaultProfile(), realisticPod(podAntiAffinity(podTerm(hostname, appKey, "rs-7"))))
	})
}

// BenchmarkCycle adds the loop's own work per pod: updating the snapshot
// from the cache and assuming the pod, so each decision sees the last.
func BenchmarkCycle(b *testing.B) {
	nodes, pods := benchCluster(5000, 30000)
	c := NewCache()
	for _, n := range nodes {
		c.AddNode(n)
	}
	for _, p := range pods {
		c.AddPod(p)
	}
	snap := newSnapshot(nil)
	c.UpdateSnapshot(snap)
	prof := DefaultProfile()
	infos := make([]*PodInfo, b.N)
	for i := range infos {
		infos[i] = NewPodInfo(makePod(fmt.Sprintf("new-%d", i), ownedBy("rs-new"), requests("cpu", "100m", "memory", "128Mi")))
	}
	start := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.UpdateSnapshot(snap)
		d := prof.Schedule(infos[i], snap, start)
		if !d.Scheduled() {
			b.Fatal(d.Message())
		}
		start = (start + d.Evaluated) % len(snap.Nodes)
		if err := c.AssumePod(infos[i], d.Node); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pods/s")
}

// BenchmarkUnschedulable measures a pod that fits nowhere (every node has
// a taint it does not tolerate), as the loop handles it: every node
// filtered, the preemption dry run, and the per-filter message.
func BenchmarkUnschedulable(b *testing.B) {
	nodes, pods := benchCluster(5000, 30000)
	for _, n := range nodes {
		n.Spec.Taints = []corev1.Taint{{Key: "hold", Value: "true", Effect: corev1.TaintEffectNoSchedule}}
	}
	snap := NewSnapshot(nodes, pods)
	prof := DefaultProfile()
	pi := NewPodInfo(realisticPod())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := prof.Schedule(pi, snap, 0)
		if d.Scheduled() {
			b.Fatal("scheduled on a tainted node")
		}
		if pr := prof.Preempt(pi, snap, &d); pr.Node != "" {
			b.Fatal("preemption found a node")
		}
		_ = d.Message()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
}
