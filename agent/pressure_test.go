package agent

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
)

const mi = 1 << 20

func TestThresholdsEvaluate(t *testing.T) {
	def := DefaultThresholds()
	gi := int64(1 << 30)
	for _, tc := range []struct {
		name string
		t    Thresholds
		s    Signals
		want Pressure
	}{
		{name: "nothing observed", t: def},
		{name: "plenty", t: def, s: Signals{Memory: &Amount{4 * gi, 8 * gi}, NodeFs: &Amount{50 * gi, 100 * gi},
			NodeFsInodes: &Amount{500, 1000}, ImageFs: &Amount{50 * gi, 100 * gi}, ImageFsInodes: &Amount{500, 1000}, PID: &Amount{30000, 32768}}},
		{name: "memory just below 100Mi", t: def, s: Signals{Memory: &Amount{100*mi - 1, 8 * gi}}, want: Pressure{Memory: true}},
		{name: "memory at 100Mi is enough", t: def, s: Signals{Memory: &Amount{100 * mi, 8 * gi}}},
		{name: "nodefs below 10%", t: def, s: Signals{NodeFs: &Amount{9 * gi, 100 * gi}}, want: Pressure{Disk: true}},
		{name: "nodefs at 10%", t: def, s: Signals{NodeFs: &Amount{10 * gi, 100 * gi}}},
		{name: "nodefs inodes below 5%", t: def, s: Signals{NodeFsInodes: &Amount{49, 1000}}, want: Pressure{Disk: true}},
		{name: "imagefs below 15%", t: def, s: Signals{ImageFs: &Amount{14 * gi, 100 * gi}}, want: Pressure{Disk: true}},
		{name: "imagefs at 15%", t: def, s: Signals{ImageFs: &Amount{15 * gi, 100 * gi}}},
		{name: "imagefs inodes below 5%", t: def, s: Signals{ImageFsInodes: &Amount{4, 100}}, want: Pressure{Disk: true}},
		{name: "pids below 10% of the limit", t: def, s: Signals{PID: &Amount{3275, 32768}}, want: Pressure{PID: true}},
		{name: "pids at 10% of the limit", t: def, s: Signals{PID: &Amount{3276, 32768}}},
		{name: "pid limit overrun", t: def, s: Signals{PID: &Amount{-5, 100}}, want: Pressure{PID: true}},
		{name: "all three", t: def, s: Signals{Memory: &Amount{0, gi}, ImageFs: &Amount{0, gi}, PID: &Amount{0, 10}},
			want: Pressure{Memory: true, Disk: true, PID: true}},
		{name: "zero threshold is off", t: Thresholds{}, s: Signals{Memory: &Amount{0, gi}, NodeFs: &Amount{0, gi}, PID: &Amount{0, 10}}},
		{name: "quantity wins over percentage", t: Thresholds{NodeFsAvailable: Threshold{Quantity: gi, Percentage: 0.5}},
			s: Signals{NodeFs: &Amount{2 * gi, 100 * gi}}},
		{name: "percentage of memory", t: Thresholds{MemoryAvailable: Threshold{Percentage: 0.05}},
			s: Signals{Memory: &Amount{gi / 25, gi}}, want: Pressure{Memory: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.t.Evaluate(tc.s); got != tc.want {
				t.Errorf("pressure %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestPressureHeldForTransitionPeriod: a condition goes True at once and
// back to False only once its threshold has not been met for the period.
func TestPressureHeldForTransitionPeriod(t *testing.T) {
	var n node
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n.initPressure(metav1.NewTime(t0))
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, step := range []struct {
		at          int
		p           Pressure
		flips       int
		memory, pid corev1.ConditionStatus
		memSince    int
	}{
		{at: 10, p: Pressure{Memory: true}, flips: 1, memory: "True", pid: "False", memSince: 10},
		{at: 20, p: Pressure{Memory: true}, memory: "True", pid: "False", memSince: 10},
		{at: 30, p: Pressure{PID: true}, flips: 1, memory: "True", pid: "True", memSince: 10}, // memory held
		{at: 319, p: Pressure{}, memory: "True", pid: "True", memSince: 10},                   // 299 s since seen
		{at: 320, p: Pressure{}, flips: 1, memory: "False", pid: "True", memSince: 320},       // 300 s: released
		{at: 330, p: Pressure{}, flips: 1, memory: "False", pid: "False", memSince: 320},      // pid: 300 s since 30
		{at: 331, p: Pressure{Memory: true, PID: true}, flips: 2, memory: "True", pid: "True", memSince: 331},
	} {
		flipped := n.setPressure(step.p, at(step.at), 5*time.Minute)
		if len(flipped) != step.flips || n.pressure[0].status != step.memory || n.pressure[2].status != step.pid ||
			!n.pressure[0].since.Time.Equal(at(step.memSince)) {
			t.Fatalf("at %ds: flipped %v, memory %s since %v, pid %s; want %d flips, memory %s since %ds, pid %s", step.at, flipped,
				n.pressure[0].status, n.pressure[0].since.Time.Sub(t0), n.pressure[2].status, step.flips, step.memory, step.memSince, step.pid)
		}
		if n.pressure[1].status != corev1.ConditionFalse || !n.pressure[1].since.Time.Equal(t0) {
			t.Fatalf("at %ds: disk %s since %v", step.at, n.pressure[1].status, n.pressure[1].since)
		}
	}
}

// TestPressureBeforeRegistration: a host observed before the node is
// registered reports pressure found then (and registration keeps it).
func TestPressureBeforeRegistration(t *testing.T) {
	var n node
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if flipped := n.setPressure(Pressure{Disk: true}, t0, time.Minute); len(flipped) != 1 || flipped[0] != 1 {
		t.Fatalf("flipped %v, want only disk", flipped)
	}
	n.initPressure(metav1.NewTime(t0.Add(time.Second)))
	if n.pressure[1].status != corev1.ConditionTrue || n.pressure[0].status != corev1.ConditionFalse || !n.pressure[1].since.Time.Equal(t0) {
		t.Fatalf("after registration: %+v", n.pressure)
	}
}

func TestSimPressureAnnotation(t *testing.T) {
	for v, want := range map[string]Pressure{
		"": {}, "memory": {Memory: true}, "disk, PID": {Disk: true, PID: true}, "memory,disk,pid,bogus": {true, true, true},
	} {
		if got := simPressure(v); got != want {
			t.Errorf("%q: %+v, want %+v", v, got, want)
		}
	}
}

func (h *harness) condition(node string, typ corev1.NodeConditionType) corev1.NodeCondition {
	n, err := h.client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		return corev1.NodeCondition{}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return corev1.NodeCondition{}
}

// TestObserveSignals: a host reporting low memory makes MemoryPressure
// True at once (not at the next heartbeat), with kubelet's reason and an
// event; it is held for the transition period, then flips back.
func TestObserveSignals(t *testing.T) {
	events := record.NewFakeRecorder(10)
	h := startWith(t, 1, func(o *Options) {
		o.Recorder = events
		o.Nodes[0].SimulatedPressure = false // a real host reports its signals
	})
	t0 := h.clock.Now()
	h.eventually("registered", 0, func() bool { return h.condition("n", corev1.NodeMemoryPressure).Type != "" })
	if c := h.condition("n", corev1.NodeMemoryPressure); c.Status != corev1.ConditionFalse || c.Reason != "KubeletHasSufficientMemory" ||
		c.Message != "kubelet has sufficient memory available" || !c.LastTransitionTime.Time.Equal(t0) {
		t.Fatalf("at registration: %+v", c)
	}

	h.clock.Step(30 * time.Second)
	low := Signals{Memory: &Amount{Available: 50 * mi, Capacity: 8 << 30}}
	h.agent.ObserveSignals("n", low)
	var c corev1.NodeCondition
	h.eventually("MemoryPressure=True posted", 0, func() bool {
		c = h.condition("n", corev1.NodeMemoryPressure)
		return c.Status == corev1.ConditionTrue
	})
	if c.Reason != "KubeletHasInsufficientMemory" || c.Message != "kubelet has insufficient memory available" ||
		!c.LastTransitionTime.Time.Equal(t0.Add(30*time.Second)) {
		t.Errorf("under pressure: %+v", c)
	}
	if d := h.condition("n", corev1.NodeDiskPressure); d.Status != corev1.ConditionFalse || !d.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("disk untouched: %+v", d)
	}
	if e := <-events.Events; e != "Normal NodeHasInsufficientMemory Node n status is now: NodeHasInsufficientMemory" {
		t.Errorf("event %q", e)
	}

	plenty := Signals{Memory: &Amount{Available: 4 << 30, Capacity: 8 << 30}}
	h.clock.Step(4 * time.Minute)
	h.agent.ObserveSignals("n", plenty) // within the transition period: still True
	n := h.agent.nodes["n"]
	n.mu.Lock()
	held := n.pressure[0].status
	n.mu.Unlock()
	if held != corev1.ConditionTrue {
		t.Fatalf("released after 4m: %s", held)
	}

	h.clock.Step(time.Minute)
	h.agent.ObserveSignals("n", plenty)
	h.eventually("MemoryPressure=False posted", 0, func() bool {
		c = h.condition("n", corev1.NodeMemoryPressure)
		return c.Status == corev1.ConditionFalse
	})
	if c.Reason != "KubeletHasSufficientMemory" || !c.LastTransitionTime.Time.Equal(t0.Add(5*time.Minute+30*time.Second)) {
		t.Errorf("released: %+v", c)
	}
	if e := <-events.Events; e != "Normal NodeHasSufficientMemory Node n status is now: NodeHasSufficientMemory" {
		t.Errorf("event %q", e)
	}
}

// TestSimulatedPressure: a simulated node takes its pressure from its
// annotation, read back with the status heartbeat.
func TestSimulatedPressure(t *testing.T) {
	h := start(t, 1)
	h.eventually("registered", 0, func() bool { return h.condition("n", corev1.NodeDiskPressure).Type != "" })
	setAnnotation := func(v string) {
		n, err := h.client.CoreV1().Nodes().Get(context.Background(), "n", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Annotations = map[string]string{AnnotationSimPressure: v}
		if _, err := h.client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setAnnotation("disk,pid")
	h.eventually("DiskPressure and PIDPressure", 500*time.Millisecond, func() bool {
		return h.condition("n", corev1.NodeDiskPressure).Status == corev1.ConditionTrue &&
			h.condition("n", corev1.NodePIDPressure).Status == corev1.ConditionTrue
	})
	if c := h.condition("n", corev1.NodeMemoryPressure); c.Status != corev1.ConditionFalse {
		t.Errorf("memory %+v", c)
	}
	setAnnotation("")
	h.eventually("pressure cleared", 500*time.Millisecond, func() bool {
		return h.condition("n", corev1.NodeDiskPressure).Status == corev1.ConditionFalse &&
			h.condition("n", corev1.NodePIDPressure).Status == corev1.ConditionFalse
	})
}
