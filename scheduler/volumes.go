package scheduler

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// Reasons of the VolumeBinding filter, worded as upstream's.
const (
	ReasonVolumeNodeAffinityConflict = "node(s) had volume node affinity conflict"
	ReasonUnboundImmediateClaims     = "pod has unbound immediate PersistentVolumeClaims"
)

// Volumes resolves the claims a pod mounts: the scheduler backs it with
// informer listers, tests with fixed objects. It is read only by
// PreFilter, once per decision.
type Volumes interface {
	Claim(namespace, name string) *corev1.PersistentVolumeClaim
	Volume(name string) *corev1.PersistentVolume
	Class(name string) *storagev1.StorageClass
}

// VolumeBinding places a pod where its claims' volumes are: a claim bound
// to a volume with node affinity (local-path volumes are pinned to their
// node's hostname) restricts the pod to the nodes that affinity selects,
// so a recreated StatefulSet pod returns to its data. A missing claim, one
// being deleted, or an unbound claim whose class binds immediately fails
// the pod everywhere. Unbound WaitForFirstConsumer claims allow any node:
// their volume is provisioned where the pod lands.
type VolumeBinding struct{}

func (VolumeBinding) Name() string { return "VolumeBinding" }

func (VolumeBinding) Filter(pod *PodInfo, ni *NodeInfo) *Status {
	f, st := VolumeBinding{}.PreFilter(pod, &Snapshot{Nodes: []*NodeInfo{ni}})
	if st != nil {
		return st
	}
	if f == nil {
		return nil
	}
	return f.Filter(pod, ni)
}

func (VolumeBinding) PreFilter(pod *PodInfo, snap *Snapshot) (Filter, *Status) {
	var selectors []*corev1.NodeSelector
	for i := range pod.Pod.Spec.Volumes {
		name := claimName(pod.Pod, &pod.Pod.Spec.Volumes[i])
		if name == "" {
			continue
		}
		var claim *corev1.PersistentVolumeClaim
		if snap.Volumes != nil {
			claim = snap.Volumes.Claim(pod.Pod.Namespace, name)
		}
		switch {
		case claim == nil:
			return nil, unresolvable(fmt.Sprintf("persistentvolumeclaim %q not found", name))
		case claim.DeletionTimestamp != nil:
			return nil, unresolvable(fmt.Sprintf("persistentvolumeclaim %q is being deleted", name))
		case claim.Spec.VolumeName != "":
			pv := snap.Volumes.Volume(claim.Spec.VolumeName)
			if pv == nil {
				return nil, unresolvable(fmt.Sprintf("persistentvolume %q bound to claim %q not found", claim.Spec.VolumeName, name))
			}
			if pv.Spec.NodeAffinity != nil && pv.Spec.NodeAffinity.Required != nil {
				selectors = append(selectors, pv.Spec.NodeAffinity.Required)
			}
		case !waitsForConsumer(snap.Volumes, claim):
			return nil, unresolvable(ReasonUnboundImmediateClaims)
		}
	}
	if len(selectors) == 0 {
		return nil, nil
	}
	return &volumeFilter{selectors: selectors}, nil
}

// claimName is the claim a volume mounts: its persistentVolumeClaim, or
// the <pod>-<volume> claim of a generic ephemeral volume; "" for others.
func claimName(pod *corev1.Pod, v *corev1.Volume) string {
	switch {
	case v.PersistentVolumeClaim != nil:
		return v.PersistentVolumeClaim.ClaimName
	case v.Ephemeral != nil:
		return pod.Name + "-" + v.Name
	}
	return ""
}

// waitsForConsumer reports whether an unbound claim is provisioned after
// scheduling (its class is WaitForFirstConsumer) or has a node chosen.
func waitsForConsumer(vols Volumes, claim *corev1.PersistentVolumeClaim) bool {
	if claim.Annotations["volume.kubernetes.io/selected-node"] != "" {
		return true
	}
	class := ""
	if claim.Spec.StorageClassName != nil {
		class = *claim.Spec.StorageClassName
	}
	sc := vols.Class(class)
	return sc != nil && sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

type volumeFilter struct{ selectors []*corev1.NodeSelector }

func (*volumeFilter) Name() string { return "VolumeBinding" }

func (f *volumeFilter) Filter(_ *PodInfo, ni *NodeInfo) *Status {
	for _, sel := range f.selectors {
		if !matchesNodeSelector(sel, ni.Node) {
			return unresolvable(ReasonVolumeNodeAffinityConflict)
		}
	}
	return nil
}
