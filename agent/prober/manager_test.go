package prober

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"corral/agent/runtime"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// execCall is one ExecSync the fake saw, with the fake clock's time.
type execCall struct {
	id, cmd string
	at      time.Time
}

// fakeExecer answers ExecSync from a per-command script: the exit code
// (or error) to return, changeable while workers run.
type fakeExecer struct {
	clock *clocktesting.FakeClock
	mu    sync.Mutex
	codes map[string]int32 // command → exit code
	errs  map[string]error
	calls []execCall
}

func (f *fakeExecer) ExecSync(_ context.Context, id string, cmd []string, _ time.Duration) ([]byte, []byte, int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := strings.Join(cmd, " ")
	f.calls = append(f.calls, execCall{id, c, f.clock.Now()})
	if err := f.errs[c]; err != nil {
		return nil, nil, 0, err
	}
	code := f.codes[c]
	return []byte("out:" + c), []byte(fmt.Sprintf(" code %d", code)), code, nil
}

func (f *fakeExecer) set(cmd string, code int32) {
	f.mu.Lock()
	f.codes[cmd] = code
	f.mu.Unlock()
}

// callsOf lists the calls of one command.
func (f *fakeExecer) callsOf(cmd string) []execCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []execCall
	for _, c := range f.calls {
		if c.cmd == cmd {
			out = append(out, c)
		}
	}
	return out
}

// env is a Manager on a fake clock with a fake execer, counting rounds,
// changes and events.
type env struct {
	t     *testing.T
	clock *clocktesting.FakeClock
	exec  *fakeExecer
	m     *Manager

	mu      sync.Mutex
	rounds  map[string]int // "container/probe/id" → rounds done
	changes int
	events  []string
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, clock: clocktesting.NewFakeClock(t0), rounds: map[string]int{}}
	e.exec = &fakeExecer{clock: e.clock, codes: map[string]int32{}, errs: map[string]error{}}
	e.m = New(Options{Execer: e.exec, Clock: e.clock,
		OnChange: func(types.UID) { e.mu.Lock(); e.changes++; e.mu.Unlock() },
		Event: func(_ *corev1.Pod, c, typ, reason, msg string) {
			e.mu.Lock()
			e.events = append(e.events, c+" "+typ+" "+reason+": "+msg)
			e.mu.Unlock()
		}})
	e.m.afterRound = func(w *worker) {
		e.mu.Lock()
		e.rounds[fmt.Sprintf("%s/%s/%s", w.key.container, w.key.probe, w.containerID)]++
		e.mu.Unlock()
	}
	t.Cleanup(e.m.Stop)
	return e
}

// waitRounds waits until the worker for container/probe/id finished n rounds.
func (e *env) waitRounds(key string, n int) {
	e.t.Helper()
	waitFor(e.t, key+" rounds", func() bool { e.mu.Lock(); defer e.mu.Unlock(); return e.rounds[key] >= n })
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rounds[key] != n {
		e.t.Fatalf("%s: %d rounds, want %d", key, e.rounds[key], n)
	}
}

func (e *env) eventList() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.events...)
}

func (e *env) changeCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changes
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func execProbe(cmd string, initialDelay, period, success, failure int32) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: strings.Fields(cmd)}},
		InitialDelaySeconds: initialDelay, PeriodSeconds: period, TimeoutSeconds: 1,
		SuccessThreshold: success, FailureThreshold: failure}
}

func testPod(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"},
		Spec: corev1.PodSpec{Containers: containers}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
}

// running reports one running attempt per (name, id) pair, started at t0.
func running(pairs ...string) *runtime.PodStatus {
	rs := &runtime.PodStatus{UID: "uid-1", SandboxReady: true, IPs: []string{"127.0.0.1"}}
	for i := 0; i < len(pairs); i += 2 {
		rs.Containers = append(rs.Containers, runtime.ContainerStatus{Name: pairs[i], ID: pairs[i+1],
			State: runtime.ContainerRunning, StartedAt: t0})
	}
	return rs
}

func TestInitialDelayThenPeriod(t *testing.T) {
	e := newEnv(t)
	pod := testPod(corev1.Container{Name: "app", ReadinessProbe: execProbe("ready", 5, 10, 1, 3)})
	e.m.Update(pod, running("app", "c://1"))
	e.clock.Step(4 * time.Second) // inside the initial delay: no probe
	e.clock.Step(1 * time.Second)
	e.waitRounds("app/Readiness/c://1", 1)
	for i := 2; i <= 3; i++ {
		e.clock.Step(10 * time.Second)
		e.waitRounds("app/Readiness/c://1", i)
	}
	calls := e.exec.callsOf("ready")
	want := []time.Time{t0.Add(5 * time.Second), t0.Add(15 * time.Second), t0.Add(25 * time.Second)}
	if len(calls) != len(want) {
		t.Fatalf("probes %v, want at %v", calls, want)
	}
	for i := range want {
		if !calls[i].at.Equal(want[i]) || calls[i].id != "c://1" {
			t.Errorf("probe %d at %v in %s, want at %v in c://1", i, calls[i].at, calls[i].id, want[i])
		}
	}
}

func TestInitialDelayCountsFromContainerStart(t *testing.T) {
	e := newEnv(t)
	e.clock.Step(30 * time.Second) // the container started 30s ago, longer than the delay
	pod := testPod(corev1.Container{Name: "app", ReadinessProbe: execProbe("ready", 20, 10, 1, 3)})
	e.m.Update(pod, running("app", "c://1"))
	e.waitRounds("app/Readiness/c://1", 1) // at once, without stepping
	if !e.m.Ready("uid-1", "app", "c://1") {
		t.Fatal("not ready after a successful probe")
	}
}

func TestReadinessThresholds(t *testing.T) {
	e := newEnv(t)
	pod := testPod(corev1.Container{Name: "app", ReadinessProbe: execProbe("ready", 0, 10, 2, 3)})
	e.m.Update(pod, running("app", "c://1"))
	key := "app/Readiness/c://1"
	step := func(n int) {
		t.Helper()
		if n > 1 {
			e.clock.Step(10 * time.Second)
		}
		e.waitRounds(key, n)
	}
	if e.m.Ready("uid-1", "app", "c://1") {
		t.Fatal("ready before any probe")
	}
	step(1) // one success of two
	if e.m.Ready("uid-1", "app", "c://1") {
		t.Fatal("ready after 1 success with successThreshold 2")
	}
	step(2)
	if !e.m.Ready("uid-1", "app", "c://1") {
		t.Fatal("not ready after 2 successes")
	}
	if e.changeCount() != 1 {
		t.Fatalf("OnChange called %d times, want 1", e.changeCount())
	}
	e.exec.set("ready", 1)
	step(3)
	step(4)
	if !e.m.Ready("uid-1", "app", "c://1") {
		t.Fatal("unready after 2 failures with failureThreshold 3")
	}
	step(5)
	if e.m.Ready("uid-1", "app", "c://1") {
		t.Fatal("still ready after 3 failures")
	}
	if e.changeCount() != 2 {
		t.Fatalf("OnChange called %d times, want 2", e.changeCount())
	}
	ev := e.eventList()
	if len(ev) != 3 || ev[0] != "app Warning Unhealthy: Readiness probe failed: out:ready code 1" {
		t.Fatalf("events %q", ev)
	}
	// Successes must be consecutive: success, failure, success is not enough.
	e.exec.set("ready", 0)
	step(6)
	e.exec.set("ready", 1)
	step(7)
	e.exec.set("ready", 0)
	step(8)
	if e.m.Ready("uid-1", "app", "c://1") {
		t.Fatal("ready after success, failure, success with successThreshold 2")
	}
	step(9)
	if !e.m.Ready("uid-1", "app", "c://1") {
		t.Fatal("not ready after two consecutive successes")
	}
}

func TestLivenessFailureKillsAndHolds(t *testing.T) {
	e := newEnv(t)
	live := execProbe("live", 0, 10, 1, 2)
	live.TerminationGracePeriodSeconds = ptr.To[int64](7)
	pod := testPod(corev1.Container{Name: "app", LivenessProbe: live})
	e.m.Update(pod, running("app", "c://1"))
	key := "app/Liveness/c://1"
	e.waitRounds(key, 1)
	if e.m.Liveness("uid-1", "app", "c://1") {
		t.Fatal("liveness failed while the probe succeeds")
	}
	e.exec.set("live", 1)
	e.clock.Step(10 * time.Second)
	e.waitRounds(key, 2)
	if e.m.Liveness("uid-1", "app", "c://1") {
		t.Fatal("liveness failed after 1 failure with failureThreshold 2")
	}
	e.clock.Step(10 * time.Second)
	e.waitRounds(key, 3)
	f, failed := e.m.LivenessFailure("uid-1", "app", "c://1")
	want := LivenessFailure{Probe: Liveness, Message: "Container app failed liveness probe", Grace: 7 * time.Second}
	if !failed || f != want {
		t.Fatalf("LivenessFailure = %+v, %v; want %+v", f, failed, want)
	}
	if e.changeCount() != 1 {
		t.Fatalf("OnChange called %d times, want 1", e.changeCount())
	}
	// On hold: the worker ends, the container is probed no more.
	w := e.worker("app", Liveness)
	waitFor(t, "liveness worker to end", func() bool { return closed(w.done) })
	if got := e.exec.callsOf("live"); len(got) != 3 {
		t.Fatalf("%d liveness probes, want 3", len(got))
	}
	if ev := e.eventList(); len(ev) != 2 || ev[1] != "app Warning Unhealthy: Liveness probe failed: out:live code 1" {
		t.Fatalf("events %q", ev)
	}

	// The agent stopped it; the restart is a new attempt with a fresh worker.
	exited := running("app", "c://1")
	exited.Containers[0].State = runtime.ContainerExited
	e.m.Update(pod, exited)
	if e.m.Liveness("uid-1", "app", "c://1") {
		t.Fatal("failure kept after the attempt exited")
	}
	e.exec.set("live", 0)
	e.clock.Step(5 * time.Second)
	rs := running("app", "c://2")
	rs.Containers[0].StartedAt = e.clock.Now()
	e.m.Update(pod, rs)
	e.waitRounds("app/Liveness/c://2", 1)
	if e.m.Liveness("uid-1", "app", "c://2") {
		t.Fatal("new attempt failed liveness")
	}
}

func TestStartupGatesReadinessAndLiveness(t *testing.T) {
	e := newEnv(t)
	e.exec.set("start", 1)
	pod := testPod(corev1.Container{Name: "app",
		StartupProbe:   execProbe("start", 0, 5, 1, 10),
		ReadinessProbe: execProbe("ready", 0, 10, 1, 3),
		LivenessProbe:  execProbe("live", 0, 10, 1, 1)})
	e.m.Update(pod, running("app", "c://1"))
	e.waitRounds("app/Startup/c://1", 1)
	e.waitRounds("app/Readiness/c://1", 1)
	e.waitRounds("app/Liveness/c://1", 1)
	if e.m.Started("uid-1", "app", "c://1") || e.m.Ready("uid-1", "app", "c://1") || e.m.Liveness("uid-1", "app", "c://1") {
		t.Fatal("started, ready or failed before the startup probe succeeded")
	}
	if n := len(e.exec.callsOf("ready")) + len(e.exec.callsOf("live")); n != 0 {
		t.Fatalf("%d readiness/liveness probes ran before start-up", n)
	}
	// Startup succeeds at t0+5: readiness runs at once (not at t0+10).
	e.exec.set("start", 0)
	e.clock.Step(5 * time.Second)
	e.waitRounds("app/Startup/c://1", 2)
	e.waitRounds("app/Readiness/c://1", 2)
	if !e.m.Started("uid-1", "app", "c://1") || !e.m.Ready("uid-1", "app", "c://1") {
		t.Fatal("not started and ready after the startup probe succeeded")
	}
	if c := e.exec.callsOf("ready"); len(c) != 1 || !c[0].at.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("readiness probes %v, want one at t0+5s", c)
	}
	// The startup probe is done; liveness runs on its own period.
	w := e.worker("app", Startup)
	waitFor(t, "startup worker to end", func() bool { return closed(w.done) })
	e.clock.Step(5 * time.Second)
	e.waitRounds("app/Liveness/c://1", 2)
	e.waitRounds("app/Readiness/c://1", 3)
	if len(e.exec.callsOf("start")) != 2 || len(e.exec.callsOf("live")) != 1 {
		t.Fatalf("probes: %d startup (want 2), %d liveness (want 1)", len(e.exec.callsOf("start")), len(e.exec.callsOf("live")))
	}
}

func TestStartupFailureKills(t *testing.T) {
	e := newEnv(t)
	e.exec.set("start", 1)
	pod := testPod(corev1.Container{Name: "app", StartupProbe: execProbe("start", 0, 1, 1, 3)})
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](12)
	e.m.Update(pod, running("app", "c://1"))
	for i := 1; i <= 3; i++ {
		if i > 1 {
			e.clock.Step(time.Second)
		}
		e.waitRounds("app/Startup/c://1", i)
	}
	f, failed := e.m.LivenessFailure("uid-1", "app", "c://1")
	want := LivenessFailure{Probe: Startup, Message: "Container app failed startup probe", Grace: 12 * time.Second}
	if !failed || f != want || !e.m.Liveness("uid-1", "app", "c://1") {
		t.Fatalf("LivenessFailure = %+v, %v; want %+v", f, failed, want)
	}
	if e.m.Started("uid-1", "app", "c://1") {
		t.Fatal("started after the startup probe failed")
	}
}

func TestWorkersFollowTheContainer(t *testing.T) {
	e := newEnv(t)
	pod := testPod(corev1.Container{Name: "app", ReadinessProbe: execProbe("ready", 1, 10, 1, 3)},
		corev1.Container{Name: "plain"})
	e.m.Update(pod, running("app", "c://1", "plain", "c://p"))
	e.clock.Step(time.Second)
	e.waitRounds("app/Readiness/c://1", 1)
	old := e.worker("app", Readiness)
	if !e.m.Ready("uid-1", "app", "c://1") || !e.m.Ready("uid-1", "plain", "c://p") || !e.m.Started("uid-1", "plain", "c://p") {
		t.Fatal("not ready")
	}
	if e.m.Ready("uid-1", "plain", "c://other") || e.m.Ready("uid-2", "plain", "c://p") {
		t.Fatal("ready for an attempt or pod the manager never saw running")
	}

	// The same attempt again: the worker stays.
	e.m.Update(pod, running("app", "c://1", "plain", "c://p"))
	if e.worker("app", Readiness) != old {
		t.Fatal("worker replaced for an unchanged container")
	}
	// A new attempt: the old worker ends, the new one starts not ready.
	rs := running("app", "c://2", "plain", "c://p")
	rs.Containers[0].StartedAt = e.clock.Now()
	e.m.Update(pod, rs)
	waitFor(t, "old worker to end", func() bool { return closed(old.done) })
	if e.m.Ready("uid-1", "app", "c://2") || e.m.Ready("uid-1", "app", "c://1") {
		t.Fatal("ready before the new attempt's first probe")
	}
	e.clock.Step(time.Second)
	e.waitRounds("app/Readiness/c://2", 1)
	if !e.m.Ready("uid-1", "app", "c://2") {
		t.Fatal("new attempt not ready after its probe")
	}
	e.clock.Step(10 * time.Second)
	e.waitRounds("app/Readiness/c://2", 2)
	for _, c := range e.exec.callsOf("ready")[1:] {
		if c.id != "c://2" {
			t.Fatalf("probe of %s after it was replaced", c.id)
		}
	}

	// Exited: no worker, not ready.
	exited := running("app", "c://2", "plain", "c://p")
	exited.Containers[0].State = runtime.ContainerExited
	e.m.Update(pod, exited)
	if e.worker("app", Readiness) != nil || e.m.Ready("uid-1", "app", "c://2") {
		t.Fatal("worker kept for an exited container")
	}

	// Remove ends everything.
	e.m.Update(pod, running("app", "c://3", "plain", "c://p"))
	w := e.worker("app", Readiness)
	e.m.Remove("uid-1")
	waitFor(t, "worker to end on Remove", func() bool { return closed(w.done) })
	if e.m.Ready("uid-1", "plain", "c://p") {
		t.Fatal("ready after Remove")
	}

	// A finished pod is removed too.
	e.m.Update(pod, running("app", "c://4", "plain", "c://p"))
	w = e.worker("app", Readiness)
	done := pod.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	e.m.Update(done, running("app", "c://4", "plain", "c://p"))
	waitFor(t, "worker to end for a finished pod", func() bool { return closed(w.done) })
}

func TestTerminatingPodIsNotKilled(t *testing.T) {
	e := newEnv(t)
	e.exec.set("live", 1)
	pod := testPod(corev1.Container{Name: "app", LivenessProbe: execProbe("live", 0, 10, 1, 1)})
	pod.DeletionTimestamp = &metav1.Time{Time: t0}
	e.m.Update(pod, running("app", "c://1"))
	e.waitRounds("app/Liveness/c://1", 1)
	e.clock.Step(10 * time.Second)
	e.waitRounds("app/Liveness/c://1", 2)
	if e.m.Liveness("uid-1", "app", "c://1") || len(e.exec.callsOf("live")) != 0 {
		t.Fatal("a terminating pod's liveness probe ran or failed")
	}
}

func TestExecTimeoutAndErrors(t *testing.T) {
	e := newEnv(t)
	e.exec.errs["sleep 10"] = context.DeadlineExceeded
	e.exec.errs["broken"] = errors.New("no such container")
	pod := testPod(
		corev1.Container{Name: "slow", ReadinessProbe: execProbe("sleep 10", 0, 10, 1, 1)},
		corev1.Container{Name: "broken", LivenessProbe: execProbe("broken", 0, 10, 1, 1)})
	e.m.Update(pod, running("slow", "c://s", "broken", "c://b"))
	e.waitRounds("slow/Readiness/c://s", 1)
	e.waitRounds("broken/Liveness/c://b", 1)
	ev := e.eventList()
	want := map[string]bool{
		`slow Warning Unhealthy: Readiness probe failed: command "sleep 10" timed out`:                      true,
		"broken Warning Unhealthy: Liveness probe errored and resulted in unknown state: no such container": true,
	}
	if len(ev) != 2 || !want[ev[0]] || !want[ev[1]] {
		t.Fatalf("events %q", ev)
	}
	// An error is retried within the round and never counts as a failure.
	if n := len(e.exec.callsOf("broken")); n != maxTries {
		t.Fatalf("%d tries of an erroring probe, want %d", n, maxTries)
	}
	if e.m.Liveness("uid-1", "broken", "c://b") {
		t.Fatal("a probe error killed the container")
	}
}

func (e *env) worker(container string, t Type) *worker {
	e.m.mu.Lock()
	defer e.m.mu.Unlock()
	if p := e.m.pods["uid-1"]; p != nil {
		return p.workers[workerKey{container, t}]
	}
	return nil
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
