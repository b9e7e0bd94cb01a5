package nodelifecycle

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

const (
	reasonUnknown  = "NodeStatusUnknown"
	messageUnknown = "Kubelet stopped posting node status."
)

type state int

const (
	// pending: not judged yet by this controller instance (no renewal
	// seen since it started); whatever taints the node has are kept.
	pending state = iota
	healthy
	notReady    // alive, but the agent reports Ready=False
	unreachable // no renewal within the grace period
)

func (s state) String() string {
	return [...]string{"pending", "healthy", "not-ready", "unreachable"}[s]
}

// nodeHealth is what the controller observed of a node, on its own clock.
type nodeHealth struct {
	probe     time.Time // when a sign of life was last observed
	renew     time.Time // lease renewTime last seen
	heartbeat time.Time // Ready heartbeat last seen
	sawLease  bool
	alive     bool // a renewal was observed by this instance
	state     state
	zone      string
}

// desired conditions and taints of a node; taint fields hold a taint key
// (not-ready or unreachable) or "".
type desired struct {
	markUnknown bool
	noSchedule  string
	noExecute   string
}

func zoneOf(n *corev1.Node) string { return n.Labels[corev1.LabelTopologyZone] }

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// ourTaint returns the key of the node's not-ready/unreachable taint with
// the given effect, or "".
func ourTaint(n *corev1.Node, effect corev1.TaintEffect) string {
	for _, t := range n.Spec.Taints {
		if t.Effect == effect && isOurs(t.Key) {
			return t.Key
		}
	}
	return ""
}

func hasNoExecute(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			return true
		}
	}
	return false
}

// observe records signs of life: a changed lease renewTime or Ready
// heartbeat. The first observation of a node counts as one, which is what
// gives every node a full grace period when the controller starts.
func (c *Controller) observe(n *corev1.Node, now time.Time) *nodeHealth {
	var renew, heartbeat time.Time
	if l, err := c.leases.Leases(LeaseNamespace).Get(n.Name); err == nil && l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.Time
	}
	if rc := readyCondition(n); rc != nil {
		heartbeat = rc.LastHeartbeatTime.Time
	}
	h := c.health[n.Name]
	if h == nil {
		h = &nodeHealth{probe: now, renew: renew, heartbeat: heartbeat, sawLease: !renew.IsZero()}
		c.health[n.Name] = h
	} else {
		if !renew.Equal(h.renew) && !renew.IsZero() {
			h.probe, h.alive, h.sawLease = now, true, true
		}
		if !heartbeat.Equal(h.heartbeat) && !heartbeat.IsZero() {
			h.probe, h.alive = now, true
		}
		h.renew, h.heartbeat = renew, heartbeat
	}
	h.zone = zoneOf(n)
	return h
}

func (c *Controller) judge(n *corev1.Node, h *nodeHealth, now time.Time) state {
	grace := c.opts.GracePeriod
	if !h.sawLease {
		grace = max(grace, c.opts.StartupGracePeriod)
	}
	switch {
	case now.Sub(h.probe) > grace:
		return unreachable
	case !h.alive:
		return pending
	}
	if rc := readyCondition(n); rc != nil && rc.Status == corev1.ConditionFalse {
		return notReady
	}
	// Ready=Unknown with fresh renewals is healthy: the Unknown is ours and
	// the agent will post Ready again.
	return healthy
}

// unhealthy counts a node for zone disruption; a pending node counts by
// the taints it carries.
func unhealthy(n *corev1.Node, s state) bool {
	switch s {
	case notReady, unreachable:
		return true
	case pending:
		return ourTaint(n, corev1.TaintEffectNoSchedule) != "" || ourTaint(n, corev1.TaintEffectNoExecute) != ""
	}
	return false
}

// monitor is one health pass over all nodes: judge each, decide the
// zones' disruption, then queue the nodes whose conditions or taints must
// change. It only writes through the queues.
func (c *Controller) monitor(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()

	type counts struct{ total, bad int }
	zones := map[string]*counts{}
	seen := make(map[string]bool, len(nodes))
	changed := map[string]bool{}
	for _, n := range nodes {
		seen[n.Name] = true
		h := c.observe(n, now)
		if s := c.judge(n, h, now); s != h.state {
			logger.V(2).Info("node health changed", "node", n.Name, "from", h.state, "to", s)
			if s == unreachable || s == notReady {
				c.recorder.Eventf(n, corev1.EventTypeNormal, "NodeNotReady", "Node %s is now %s", n.Name, s)
			}
			h.state = s
			changed[n.Name] = true
		}
		z := zones[h.zone]
		if z == nil {
			z = &counts{}
			zones[h.zone] = z
		}
		z.total++
		if unhealthy(n, h.state) {
			z.bad++
		}
	}
	for name := range c.health {
		if !seen[name] {
			delete(c.health, name)
			delete(c.want, name)
		}
	}

	// As upstream: a zone whose nodes are all unhealthy is evicted normally
	// (it lost its nodes), unless every zone is in that state (then it is
	// this controller or the network that is cut off); a zone with more
	// than two unhealthy nodes and at least the threshold share of them is
	// partly disrupted, and evictions there wait.
	allFull := len(zones) > 0
	for _, z := range zones {
		if z.bad < z.total || z.total == 0 {
			allFull = false
		}
	}
	exited := map[string]bool{}
	for zone, z := range zones {
		full := z.total > 0 && z.bad == z.total
		partial := !full && z.bad > 2 && float64(z.bad) >= c.opts.UnhealthyZoneThreshold*float64(z.total)
		dis := allFull || partial
		if dis != c.disrupted[zone] {
			logger.Info("zone disruption changed", "zone", zone, "disrupted", dis, "unhealthy", z.bad, "nodes", z.total)
			if !dis {
				exited[zone] = true
			}
		}
		if dis {
			c.disrupted[zone] = true
		} else {
			delete(c.disrupted, zone)
		}
	}
	for zone := range c.disrupted {
		if zones[zone] == nil {
			delete(c.disrupted, zone)
		}
	}

	for _, n := range nodes {
		h := c.health[n.Name]
		if exited[h.zone] && h.state == unreachable {
			// Leaving disruption: every node gets a fresh grace period,
			// as nodes recovering from a blip renew at different times.
			h.probe = now
			h.state = c.judge(n, h, now)
			changed[n.Name] = true
		}
		d := c.decide(n, h, now)
		c.want[n.Name] = d
		if !matches(n, d) || !pressureMatches(n) {
			c.nodeQueue.Add(n.Name)
		}
		if changed[n.Name] {
			c.evictQueue.Add(n.Name)
		}
	}
	// A zone entering or leaving disruption changes which taints evict.
	for _, n := range nodes {
		if (exited[zoneOf(n)] || c.disrupted[zoneOf(n)]) && hasNoExecute(n) {
			c.evictQueue.Add(n.Name)
		}
	}
	return nil
}

// decide what a node should carry; c.mu is held.
func (c *Controller) decide(n *corev1.Node, h *nodeHealth, now time.Time) desired {
	var d desired
	switch h.state {
	case pending:
		d.noSchedule, d.noExecute = ourTaint(n, corev1.TaintEffectNoSchedule), ourTaint(n, corev1.TaintEffectNoExecute)
		return c.limitNoExecute(d, n, false, now, h)
	case unreachable:
		d = desired{markUnknown: true, noSchedule: corev1.TaintNodeUnreachable, noExecute: corev1.TaintNodeUnreachable}
	case notReady:
		d = desired{noSchedule: corev1.TaintNodeNotReady, noExecute: corev1.TaintNodeNotReady}
	}
	return c.limitNoExecute(d, n, true, now, h)
}

// limitNoExecute withholds the NoExecute taint in a disrupted zone and,
// for a node that has none yet, without a token from the bucket (it is
// retried on the next pass). Swapping not-ready for unreachable is free.
func (c *Controller) limitNoExecute(d desired, n *corev1.Node, spend bool, now time.Time, h *nodeHealth) desired {
	if d.noExecute == "" {
		return d
	}
	if c.disrupted[h.zone] {
		d.noExecute = ""
		return d
	}
	if !spend || ourTaint(n, corev1.TaintEffectNoExecute) != "" || c.want[n.Name].noExecute != "" {
		return d
	}
	if !c.limiter.tryAccept(now) {
		d.noExecute = ""
	}
	return d
}

// matches reports whether the node already is as desired.
func matches(n *corev1.Node, d desired) bool {
	if d.markUnknown {
		if rc := readyCondition(n); rc == nil || rc.Status != corev1.ConditionUnknown {
			return false
		}
	}
	return ourTaint(n, corev1.TaintEffectNoSchedule) == d.noSchedule && ourTaint(n, corev1.TaintEffectNoExecute) == d.noExecute &&
		countOurs(n) == btoi(d.noSchedule != "")+btoi(d.noExecute != "")
}

func countOurs(n *corev1.Node) int {
	k := 0
	for _, t := range n.Spec.Taints {
		if isOurs(t.Key) {
			k++
		}
	}
	return k
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// syncNode brings one node's conditions and taints to c.want, and its
// pressure taints to its conditions.
func (c *Controller) syncNode(ctx context.Context, name string) error {
	c.mu.Lock()
	want, judged := c.want[name]
	c.mu.Unlock()
	var d *desired // nil: not judged yet, health taints stay as they are
	if judged {
		d = &want
	}
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	nodes := c.client.CoreV1().Nodes()
	first := true
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if !first { // the cache lags behind a write that beat us
			if node, err = nodes.Get(ctx, name, metav1.GetOptions{}); err != nil {
				return err
			}
		}
		first = false
		if d != nil && d.markUnknown {
			if rc := readyCondition(node); rc == nil || rc.Status != corev1.ConditionUnknown {
				n := node.DeepCopy()
				markUnknown(n, metav1.NewTime(c.clock.Now()))
				if node, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
					return err
				}
			}
		}
		// Pressure taints follow the conditions of the node as it is now
		// (after markUnknown, which clears them).
		taints, changed := wantTaints(node.Spec.Taints, d, wantedPressure(node), metav1.NewTime(c.clock.Now()))
		if !changed {
			return nil
		}
		n := node.DeepCopy()
		n.Spec.Taints = taints
		if _, err := nodes.Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("tainting node %s: %w", name, err)
		}
		klog.FromContext(ctx).V(2).Info("node taints updated", "node", name, "taints", taintKeys(taints))
		return nil
	})
}

// markUnknown sets every condition to Unknown, keeping heartbeats (they
// are the agent's, and observe treats a changed one as a sign of life).
func markUnknown(n *corev1.Node, now metav1.Time) {
	if readyCondition(n) == nil {
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady,
			Status: corev1.ConditionUnknown, Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.",
			LastTransitionTime: now})
	}
	for i := range n.Status.Conditions {
		cond := &n.Status.Conditions[i]
		if cond.Status == corev1.ConditionUnknown {
			continue
		}
		cond.Status, cond.Reason, cond.Message, cond.LastTransitionTime = corev1.ConditionUnknown, reasonUnknown, messageUnknown, now
	}
}

// wantTaints returns the taints with ours made as desired (with d nil,
// the not-ready/unreachable ones are left alone) and the pressure taints
// as listed; others keep their order.
func wantTaints(cur []corev1.Taint, d *desired, pressure []string, now metav1.Time) ([]corev1.Taint, bool) {
	out := make([]corev1.Taint, 0, len(cur)+2)
	var haveNS, haveNE, changed bool
	var havePressure []string
	for _, t := range cur {
		if isPressureTaint(t) {
			if contains(pressure, t.Key) && !contains(havePressure, t.Key) {
				havePressure = append(havePressure, t.Key)
				out = append(out, t)
			} else {
				changed = true
			}
			continue
		}
		if d == nil || !isOurs(t.Key) {
			out = append(out, t)
			continue
		}
		switch {
		case t.Effect == corev1.TaintEffectNoSchedule && t.Key == d.noSchedule && !haveNS:
			haveNS = true
		case t.Effect == corev1.TaintEffectNoExecute && t.Key == d.noExecute && !haveNE:
			haveNE = true
		default:
			changed = true
			continue
		}
		out = append(out, t)
	}
	for _, k := range pressure {
		if !contains(havePressure, k) {
			out = append(out, corev1.Taint{Key: k, Effect: corev1.TaintEffectNoSchedule, TimeAdded: &now})
			changed = true
		}
	}
	if d == nil {
		return out, changed
	}
	if d.noSchedule != "" && !haveNS {
		out = append(out, corev1.Taint{Key: d.noSchedule, Effect: corev1.TaintEffectNoSchedule, TimeAdded: &now})
		changed = true
	}
	if d.noExecute != "" && !haveNE {
		out = append(out, corev1.Taint{Key: d.noExecute, Effect: corev1.TaintEffectNoExecute, TimeAdded: &now})
		changed = true
	}
	return out, changed
}

func taintKeys(ts []corev1.Taint) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	return out
}
