package scheduler

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// fixedVolumes is Volumes over fixed objects: the harness's storage.
type fixedVolumes struct {
	claims  []*corev1.PersistentVolumeClaim
	volumes []*corev1.PersistentVolume
	classes []*storagev1.StorageClass
}

func (f fixedVolumes) Claim(ns, name string) *corev1.PersistentVolumeClaim {
	for _, c := range f.claims {
		if c.Namespace == ns && c.Name == name {
			return c
		}
	}
	return nil
}

func (f fixedVolumes) Volume(name string) *corev1.PersistentVolume {
	for _, v := range f.volumes {
		if v.Name == name {
			return v
		}
	}
	return nil
}

func (f fixedVolumes) Class(name string) *storagev1.StorageClass {
	for _, c := range f.classes {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func withClaim(claim string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
	}
}

func makeClaim(name, class, volume string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(class), VolumeName: volume}}
}

// pinnedVolume is a local volume on one node, as local-path makes them.
func pinnedVolume(name, node string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
		}}}}}}
}

func TestVolumeBinding(t *testing.T) {
	late := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local-path"},
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}
	now := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast"},
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate)}
	deleting := makeClaim("going", "local-path", "")
	deleting.DeletionTimestamp = &metav1.Time{}
	vols := fixedVolumes{
		claims: []*corev1.PersistentVolumeClaim{
			makeClaim("bound", "local-path", "pv-1"), makeClaim("unbound-late", "local-path", ""),
			makeClaim("unbound-now", "fast", ""), makeClaim("orphan", "local-path", "pv-gone"), deleting,
		},
		volumes: []*corev1.PersistentVolume{pinnedVolume("pv-1", "n2")},
		classes: []*storagev1.StorageClass{late, now},
	}
	cases := []struct {
		claim    string
		wantNode string // "" when it fits nowhere
		wantMsg  string
	}{
		{"bound", "n2", ""},
		{"unbound-late", "n1", ""}, // provisioned where it lands: the first of equals
		{"unbound-now", "", "0/3 nodes are available: " + ReasonUnboundImmediateClaims + "."},
		{"missing", "", `0/3 nodes are available: persistentvolumeclaim "missing" not found.`},
		{"going", "", `persistentvolumeclaim "going" is being deleted`},
		{"orphan", "", `persistentvolume "pv-gone" bound to claim "orphan" not found`},
	}
	for _, c := range cases {
		t.Run(c.claim, func(t *testing.T) {
			snap := NewSnapshot([]*corev1.Node{makeNode("n1"), makeNode("n2"), makeNode("n3")}, nil)
			snap.Volumes = vols
			d := DefaultProfile().Schedule(NewPodInfo(makePod("p", withClaim(c.claim))), snap, 0)
			if d.Node != c.wantNode {
				t.Fatalf("node %q, want %q: %s", d.Node, c.wantNode, d.Message())
			}
			if c.wantMsg != "" && !strings.Contains(d.Message(), c.wantMsg) {
				t.Errorf("message %q, want %q", d.Message(), c.wantMsg)
			}
		})
	}
	// When the volume's node is full, the other nodes are counted under
	// the affinity conflict.
	snap := NewSnapshot([]*corev1.Node{makeNode("n1"), makeNode("n2", allocatable(corev1.ResourceCPU, "1"))},
		[]*corev1.Pod{makePod("busy", requests("cpu", "1"), onNode("n2"))})
	snap.Volumes = vols
	d := DefaultProfile().Schedule(NewPodInfo(makePod("p", withClaim("bound"), requests("cpu", "1"))), snap, 0)
	want := "0/2 nodes are available: 1 Insufficient cpu, 1 " + ReasonVolumeNodeAffinityConflict + "."
	if d.Scheduled() || d.Message() != want {
		t.Errorf("got %q on %q, want %q", d.Message(), d.Node, want)
	}
}
