package agent

import (
	"context"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// LeaseNamespace holds one Lease per node, as upstream.
const LeaseNamespace = "kube-node-lease"

// renewLease updates the node's Lease from the copy the last renewal
// returned (one write per renewal), falling back to get-or-create when
// that copy is missing or stale.
func (a *Agent) renewLease(ctx context.Context, name string) error {
	n := a.nodes[name]
	leases := n.client.CoordinationV1().Leases(LeaseNamespace)
	now := metav1.NewMicroTime(a.clock.Now())
	n.mu.Lock()
	lease, uid := n.lease, n.uid
	n.mu.Unlock()
	durationSeconds := int32(a.opts.LeaseDuration.Seconds())
	create := false
	if lease == nil {
		got, err := leases.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			got, create = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: LeaseNamespace}}, true
		case err != nil:
			return err
		}
		lease = got
	}
	lease = lease.DeepCopy()
	lease.Spec.HolderIdentity = ptr.To(name)
	lease.Spec.LeaseDurationSeconds = ptr.To(durationSeconds)
	lease.Spec.RenewTime = &now
	if uid != "" && len(lease.OwnerReferences) == 0 {
		// Owned by the Node, so deleting the node deletes its lease.
		lease.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: uid}}
	}
	var err error
	if create {
		lease, err = leases.Create(ctx, lease, metav1.CreateOptions{})
	} else {
		lease, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	}
	late := false
	n.mu.Lock()
	if err != nil {
		n.lease = nil
	} else {
		done := a.clock.Now()
		late = !n.renewedAt.IsZero() && done.Sub(n.renewedAt) > 2*a.opts.RenewInterval
		n.lease, n.renewedAt = lease, done
	}
	registered := n.registered
	n.mu.Unlock()
	if err != nil {
		return err
	}
	if registered { // after re-registration the status worker schedules us anew
		a.leases.AddAfter(name, a.opts.RenewInterval)
		if late {
			// The node lifecycle controller may have taken the node for
			// dead meanwhile and set Ready=Unknown; only our status
			// heartbeat sets it back, so post one now rather than at the
			// next status interval (a minute later), as kubelet, which
			// compares its status with the API's every 10 s.
			a.statuses.Add(name)
		}
	}
	return nil
}
