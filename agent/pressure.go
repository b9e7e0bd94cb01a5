package agent

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// AnnotationSimPressure on a simulated node's Node object sets its
// pressure conditions, as the sim.corral.dev pod annotations steer the
// simulated runtime: a comma-separated list of memory, disk and pid
// ("" or absent: none). The agent reads it back with each status post.
const AnnotationSimPressure = "sim.corral.dev/pressure"

// Threshold is one hard eviction threshold: its signal is under pressure
// when what is available falls below Quantity or, with Quantity 0, below
// Percentage of the capacity (0.1 for kubelet's "10%"). The zero
// Threshold never fires.
type Threshold struct {
	Quantity   int64
	Percentage float64
}

// Thresholds are a node's hard eviction thresholds, by kubelet's signal
// names.
type Thresholds struct {
	MemoryAvailable   Threshold // memory.available → MemoryPressure
	NodeFsAvailable   Threshold // nodefs.available → DiskPressure
	NodeFsInodesFree  Threshold // nodefs.inodesFree → DiskPressure
	ImageFsAvailable  Threshold // imagefs.available → DiskPressure
	ImageFsInodesFree Threshold // imagefs.inodesFree → DiskPressure
	PIDAvailable      Threshold // pid.available → PIDPressure
}

// DefaultThresholds are kubelet's --eviction-hard defaults on Linux
// (memory.available<100Mi, nodefs.available<10%, nodefs.inodesFree<5%,
// imagefs.available<15%, imagefs.inodesFree<5%) and pid.available<10%.
// kubelet has no default PID threshold; corral's is conservative: it
// fires only once nine tenths of the system's task limit are taken.
func DefaultThresholds() Thresholds {
	return Thresholds{
		MemoryAvailable:   Threshold{Quantity: 100 << 20},
		NodeFsAvailable:   Threshold{Percentage: 0.10},
		NodeFsInodesFree:  Threshold{Percentage: 0.05},
		ImageFsAvailable:  Threshold{Percentage: 0.15},
		ImageFsInodesFree: Threshold{Percentage: 0.05},
		PIDAvailable:      Threshold{Percentage: 0.10},
	}
}

// Amount is one signal's observation: what is available of a capacity.
type Amount struct{ Available, Capacity int64 }

// Signals are one observation of a node's host, as kubelet's eviction
// manager reads them from its stats summary; a nil signal was not
// observed and causes no pressure.
type Signals struct {
	Memory                 *Amount // bytes: capacity − working set, of the capacity
	NodeFs, NodeFsInodes   *Amount // the agent's data dir: bytes, inodes
	ImageFs, ImageFsInodes *Amount // the runtime's image store: bytes, inodes
	PID                    *Amount // tasks: limit − existing, of the limit
}

// Pressure says which pressure conditions hold.
type Pressure struct{ Memory, Disk, PID bool }

// Evaluate compares the signals with the thresholds.
func (t Thresholds) Evaluate(s Signals) Pressure {
	return Pressure{
		Memory: t.MemoryAvailable.met(s.Memory),
		Disk: t.NodeFsAvailable.met(s.NodeFs) || t.NodeFsInodesFree.met(s.NodeFsInodes) ||
			t.ImageFsAvailable.met(s.ImageFs) || t.ImageFsInodesFree.met(s.ImageFsInodes),
		PID: t.PIDAvailable.met(s.PID),
	}
}

// met: available < threshold, with a percentage taken of the capacity,
// as kubelet's eviction manager compares.
func (t Threshold) met(a *Amount) bool {
	if a == nil {
		return false
	}
	var limit int64
	switch {
	case t.Quantity > 0:
		limit = t.Quantity
	case t.Percentage > 0:
		limit = int64(float64(a.Capacity) * t.Percentage)
	default:
		return false
	}
	return a.Available < limit
}

// pressureKinds are the pressure conditions in the order posted, with
// kubelet's reasons, messages and event reasons.
var pressureKinds = [...]struct {
	typ                       corev1.NodeConditionType
	reasonTrue, reasonFalse   string
	messageTrue, messageFalse string
	eventTrue, eventFalse     string
	holds                     func(Pressure) bool
}{
	{corev1.NodeMemoryPressure, "KubeletHasInsufficientMemory", "KubeletHasSufficientMemory",
		"kubelet has insufficient memory available", "kubelet has sufficient memory available",
		"NodeHasInsufficientMemory", "NodeHasSufficientMemory", func(p Pressure) bool { return p.Memory }},
	{corev1.NodeDiskPressure, "KubeletHasDiskPressure", "KubeletHasNoDiskPressure",
		"kubelet has disk pressure", "kubelet has no disk pressure",
		"NodeHasDiskPressure", "NodeHasNoDiskPressure", func(p Pressure) bool { return p.Disk }},
	{corev1.NodePIDPressure, "KubeletHasInsufficientPID", "KubeletHasSufficientPID",
		"kubelet has insufficient PID available", "kubelet has sufficient PID available",
		"NodeHasInsufficientPID", "NodeHasSufficientPID", func(p Pressure) bool { return p.PID }},
}

// pressureState is one pressure condition of a node.
type pressureState struct {
	status   corev1.ConditionStatus // "" until first judged
	since    metav1.Time            // last transition
	lastSeen time.Time              // threshold last met
}

// setPressure judges the pressure conditions from p observed at now: a
// condition stays True until its threshold has not been met for hold
// (kubelet's eviction-pressure-transition-period), so that a node near a
// threshold does not flap. It returns the indexes (into pressureKinds) of
// conditions that flipped or were True when first judged; n.mu is held.
func (n *node) setPressure(p Pressure, now time.Time, hold time.Duration) []int {
	var flipped []int
	for i, k := range pressureKinds {
		st := &n.pressure[i]
		held := k.holds(p)
		if held {
			st.lastSeen = now
		} else if !st.lastSeen.IsZero() && now.Sub(st.lastSeen) < hold {
			held = true
		}
		want := corev1.ConditionFalse
		if held {
			want = corev1.ConditionTrue
		}
		if want == st.status {
			continue
		}
		if st.status != "" || want == corev1.ConditionTrue {
			flipped = append(flipped, i)
		}
		st.status, st.since = want, metav1.NewTime(now)
	}
	return flipped
}

// initPressure makes conditions never judged False since now (the
// node's registration); n.mu is held.
func (n *node) initPressure(now metav1.Time) {
	for i := range n.pressure {
		if n.pressure[i].status == "" {
			n.pressure[i].status, n.pressure[i].since = corev1.ConditionFalse, now
		}
	}
}

// ObserveSignals judges nodeName's pressure conditions from a fresh
// observation of its host (the real node's stats sampler calls it every
// period) and posts the node status at once when one flips, rather than
// at the next heartbeat. Nodes nobody observes (simulated ones) keep
// every pressure condition False.
func (a *Agent) ObserveSignals(nodeName string, s Signals) {
	if n := a.nodes[nodeName]; n != nil {
		a.applyPressure(n, a.thresholds.Evaluate(s), a.opts.PressureTransitionPeriod)
	}
}

func (a *Agent) applyPressure(n *node, p Pressure, hold time.Duration) {
	n.mu.Lock()
	flipped := n.setPressure(p, a.now(), hold)
	states := n.pressure
	n.mu.Unlock()
	if len(flipped) == 0 {
		return
	}
	ref := &corev1.ObjectReference{Kind: "Node", Name: n.cfg.Name, UID: types.UID(n.cfg.Name)} // kubelet's node reference
	for _, i := range flipped {
		k, event := pressureKinds[i], pressureKinds[i].eventFalse
		if states[i].status == corev1.ConditionTrue {
			event = k.eventTrue
		}
		klog.Background().Info("node pressure changed", "node", n.cfg.Name, "condition", k.typ, "status", states[i].status)
		if a.opts.Recorder != nil {
			a.opts.Recorder.Eventf(ref, corev1.EventTypeNormal, event, "Node %s status is now: %s", n.cfg.Name, event)
		}
	}
	a.statuses.Add(n.cfg.Name)
}

// simPressure parses AnnotationSimPressure.
func simPressure(v string) Pressure {
	var p Pressure
	for _, f := range strings.Split(v, ",") {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "memory":
			p.Memory = true
		case "disk":
			p.Disk = true
		case "pid":
			p.PID = true
		}
	}
	return p
}

// pressureConditions are the node's pressure conditions now; n.mu is held.
func (n *node) pressureConditions(now metav1.Time) []corev1.NodeCondition {
	out := make([]corev1.NodeCondition, 0, len(pressureKinds))
	for i, k := range pressureKinds {
		st := n.pressure[i]
		c := corev1.NodeCondition{Type: k.typ, Status: corev1.ConditionFalse, LastHeartbeatTime: now, LastTransitionTime: st.since,
			Reason: k.reasonFalse, Message: k.messageFalse}
		if st.status == corev1.ConditionTrue {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, k.reasonTrue, k.messageTrue
		}
		out = append(out, c)
	}
	return out
}
