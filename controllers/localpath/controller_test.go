package localpath

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

type fixture struct {
	t      *testing.T
	client *fake.Clientset
	inf    informers.SharedInformerFactory
	c      *Controller
	events *record.FakeRecorder
}

// newFixture puts objs into the fake API and, by hand, into the caches;
// the informers never run.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	f := &fixture{t: t, client: fake.NewClientset(objs...)}
	f.inf = informers.NewSharedInformerFactory(f.client, 0)
	core1, st := f.inf.Core().V1(), f.inf.Storage().V1()
	f.c = NewController(f.client, core1.PersistentVolumeClaims(), core1.PersistentVolumes(), st.StorageClasses(), core1.Pods(),
		Options{Root: "/data/storage"}, clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	f.c.synced = func() bool { return true }
	f.events = record.NewFakeRecorder(10)
	f.c.recorder = f.events
	for _, o := range objs {
		f.cache(o)
	}
	return f
}

func (f *fixture) cache(o runtime.Object) {
	core1, st := f.inf.Core().V1(), f.inf.Storage().V1()
	var err error
	switch x := o.(type) {
	case *corev1.PersistentVolumeClaim:
		err = core1.PersistentVolumeClaims().Informer().GetIndexer().Add(x)
	case *corev1.PersistentVolume:
		err = core1.PersistentVolumes().Informer().GetIndexer().Add(x)
	case *storagev1.StorageClass:
		err = st.StorageClasses().Informer().GetIndexer().Add(x)
	case *corev1.Pod:
		err = core1.Pods().Informer().GetIndexer().Add(x)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

// sync runs one sync of key and returns the write actions it made.
func (f *fixture) sync(key string) []core.Action {
	f.t.Helper()
	f.client.ClearActions()
	if _, err := f.c.sync(context.Background(), key); err != nil {
		f.t.Fatalf("sync %s: %v", key, err)
	}
	var out []core.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			out = append(out, a)
		}
	}
	return out
}

func class(name, provisioner string, mode storagev1.VolumeBindingMode, policy corev1.PersistentVolumeReclaimPolicy) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner,
		VolumeBindingMode: &mode, ReclaimPolicy: &policy}
}

func claim(name, className string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &className,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
}

func podUsing(name, node string, claims ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: node}}
	for _, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: c, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
	}
	return p
}

var localPath = class(ClassName, Provisioner, storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimDelete)

func TestWaitsForConsumer(t *testing.T) {
	f := newFixture(t, localPath, claim("data", ClassName), podUsing("unscheduled", "", "data"))
	if acts := f.sync("ns/data"); len(acts) != 0 {
		t.Fatalf("provisioned before any consumer was scheduled: %v", acts)
	}
}

func TestProvisionAndBindForScheduledPod(t *testing.T) {
	f := newFixture(t, localPath, claim("data", ClassName), podUsing("web-0", "node-b", "data"))
	f.sync("ns/data")
	ctx := context.Background()
	pv, err := f.client.CoreV1().PersistentVolumes().Get(ctx, "pvc-uid-data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "/data/storage/pvc-uid-data_ns_data"; pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != want ||
		*pv.Spec.HostPath.Type != corev1.HostPathDirectoryOrCreate {
		t.Errorf("hostPath = %+v, want %s DirectoryOrCreate", pv.Spec.HostPath, want)
	}
	term := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0]
	if term.Key != corev1.LabelHostname || term.Values[0] != "node-b" {
		t.Errorf("node affinity = %+v, want hostname node-b", term)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Name != "data" || ref.Namespace != "ns" || ref.UID != "uid-data" {
		t.Errorf("claimRef = %+v", ref)
	}
	if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.String() != "1Gi" || pv.Spec.StorageClassName != ClassName ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Annotations[AnnProvisionedBy] != Provisioner {
		t.Errorf("pv spec = %+v", pv.Spec)
	}
	if pv.Status.Phase != corev1.VolumeBound {
		t.Errorf("pv phase = %q, want Bound", pv.Status.Phase)
	}
	pvc, err := f.client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Spec.VolumeName != pv.Name || pvc.Annotations[AnnBindCompleted] != "yes" || pvc.Status.Phase != corev1.ClaimBound {
		t.Errorf("claim not bound: volumeName %q annotations %v phase %q", pvc.Spec.VolumeName, pvc.Annotations, pvc.Status.Phase)
	}
	if q := pvc.Status.Capacity[corev1.ResourceStorage]; q.String() != "1Gi" || len(pvc.Status.AccessModes) != 1 {
		t.Errorf("claim status = %+v", pvc.Status)
	}
	select {
	case e := <-f.events.Events:
		t.Log(e)
	default:
		t.Error("no ProvisioningSucceeded event")
	}

	// A second sync with the caches caught up writes nothing.
	f.cache(pv)
	f.cache(pvc)
	if acts := f.sync("ns/data"); len(acts) != 0 {
		t.Errorf("sync of a bound claim wrote: %v", acts)
	}
}

func TestSelectedNodeAnnotation(t *testing.T) {
	c := claim("data", ClassName)
	c.Annotations = map[string]string{AnnSelectedNode: "node-a"}
	f := newFixture(t, localPath, c)
	f.sync("ns/data")
	pv, err := f.client.CoreV1().PersistentVolumes().Get(context.Background(), "pvc-uid-data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0]; v != "node-a" {
		t.Errorf("node = %s, want node-a", v)
	}
}

func TestIgnoresOtherClasses(t *testing.T) {
	other := class("fast", "example.com/csi", storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimDelete)
	f := newFixture(t, localPath, other, claim("a", "fast"), claim("b", "missing"), podUsing("p", "n", "a", "b"))
	if acts := f.sync("ns/a"); len(acts) != 0 {
		t.Errorf("provisioned a claim of another provisioner: %v", acts)
	}
	if acts := f.sync("ns/b"); len(acts) != 0 {
		t.Errorf("provisioned a claim of a missing class: %v", acts)
	}
}

func TestClaimWithoutRequestGetsEvent(t *testing.T) {
	c := claim("data", ClassName)
	c.Spec.Resources.Requests = nil
	f := newFixture(t, localPath, c, podUsing("p", "n", "data"))
	if acts := f.sync("ns/data"); len(acts) != 0 {
		t.Errorf("provisioned without a size: %v", acts)
	}
	select {
	case e := <-f.events.Events:
		t.Log(e)
	default:
		t.Error("no ProvisioningFailed event")
	}
}

// A crash after the PV create: the next sync finds the PV and binds.
func TestFinishesInterruptedBinding(t *testing.T) {
	c := claim("data", ClassName)
	f := newFixture(t, localPath, c, podUsing("p", "n", "data"))
	pv, err := f.c.newVolume(c, localPath, "n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CoreV1().PersistentVolumes().Create(context.Background(), pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.sync("ns/data")
	pvc, _ := f.client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "data", metav1.GetOptions{})
	if pvc.Spec.VolumeName != pv.Name || pvc.Status.Phase != corev1.ClaimBound {
		t.Errorf("claim not bound after retry: %q %q", pvc.Spec.VolumeName, pvc.Status.Phase)
	}
}

func TestReclaim(t *testing.T) {
	c := claim("data", ClassName)
	f := newFixture(t, localPath)
	del, _ := f.c.newVolume(c, localPath, "n")
	retain := class("keep", Provisioner, storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimRetain)
	c2 := claim("kept", "keep")
	ret, _ := f.c.newVolume(c2, retain, "n")
	// A claim recreated under the same name is another claim.
	c3 := claim("again", ClassName)
	old, _ := f.c.newVolume(c3, localPath, "n")
	old.Name = "pvc-old"
	old.Spec.ClaimRef.UID = "uid-old"
	f = newFixture(t, localPath, retain, del, ret, old, c3)

	acts := f.sync("ns/data")
	if len(acts) != 1 || acts[0].GetVerb() != "delete" || acts[0].(core.DeleteAction).GetName() != del.Name {
		t.Fatalf("claim gone, Delete policy: actions %v, want delete of %s", acts, del.Name)
	}
	acts = f.sync("ns/kept")
	if len(acts) != 1 || acts[0].GetSubresource() != "status" {
		t.Fatalf("claim gone, Retain policy: actions %v, want a status update", acts)
	}
	got, _ := f.client.CoreV1().PersistentVolumes().Get(context.Background(), ret.Name, metav1.GetOptions{})
	if got.Status.Phase != corev1.VolumeReleased {
		t.Errorf("retained volume phase = %q, want Released", got.Status.Phase)
	}
	acts = f.sync("ns/again")
	deleted := false
	for _, a := range acts {
		if d, ok := a.(core.DeleteAction); ok && d.GetName() == "pvc-old" {
			deleted = true
		}
	}
	if !deleted {
		t.Errorf("volume of the earlier claim of the same name not deleted: %v", acts)
	}
}

func TestEphemeralClaimName(t *testing.T) {
	p := podUsing("web-0", "n", "data")
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{
		Ephemeral: &corev1.EphemeralVolumeSource{}}})
	got := ClaimNames(p)
	if len(got) != 2 || got[0] != "data" || got[1] != "web-0-scratch" {
		t.Errorf("ClaimNames = %v", got)
	}
}
