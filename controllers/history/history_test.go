package history

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
)

var kind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

func parent() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ds", Namespace: "ns", UID: "uid-ds", Annotations: map[string]string{"kubernetes.io/change-cause": "v2"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}},
		},
	}
}

func newHistory(t *testing.T, objs ...runtime.Object) (*History, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	inf := informers.NewSharedInformerFactory(client, 0)
	for _, o := range objs {
		if r, ok := o.(*appsv1.ControllerRevision); ok {
			_ = inf.Apps().V1().ControllerRevisions().Informer().GetIndexer().Add(r)
		}
	}
	return NewHistory(client, inf.Apps().V1().ControllerRevisions().Lister()), client
}

// The patch replaces spec.template and nothing else, in the bytes kubectl
// compares against.
func TestTemplatePatch(t *testing.T) {
	patch, err := TemplatePatch(parent())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"image":"img:1","name":"c","resources":{}}]}}}}`
	if string(patch) != want {
		t.Errorf("patch\n got  %s\n want %s", patch, want)
	}
	if _, err := TemplatePatch(struct{ A int }{1}); err == nil {
		t.Error("a value without spec.template gave no error")
	}
}

func TestHashDependsOnDataAndCollisionCount(t *testing.T) {
	p := parent()
	patch, _ := TemplatePatch(p)
	r := New(p, kind, p.Spec.Template.Labels, patch, 1)
	zero, one := int32(0), int32(1)
	if Hash(r, &zero) == Hash(r, &one) {
		t.Error("collision count does not change the hash")
	}
	other := r.DeepCopy()
	other.Data.Raw = []byte(`{"spec":{}}`)
	if Hash(r, &zero) == Hash(other, &zero) {
		t.Error("data does not change the hash")
	}
	if Hash(r, &zero) != Hash(r.DeepCopy(), &zero) {
		t.Error("hash not stable")
	}
	if got := Name(strings.Repeat("x", 300), "h"); len(got) != maxPrefix+2 {
		t.Errorf("name of %d characters", len(got))
	}
	if r.Annotations["kubernetes.io/change-cause"] != "v2" || metav1.GetControllerOf(r).UID != "uid-ds" {
		t.Errorf("revision metadata %+v", r.ObjectMeta)
	}
}

// Create names the revision by hash; the same data already there is
// returned; other data under that name bumps the collision count.
func TestCreateHandlesCollisions(t *testing.T) {
	p := parent()
	patch, _ := TemplatePatch(p)
	r := New(p, kind, p.Spec.Template.Labels, patch, 1)
	count := int32(0)

	// A foreign revision squats the name the count of 0 gives.
	squatter := r.DeepCopy()
	squatter.Name = Name("ds", Hash(r, &count))
	squatter.Data.Raw = []byte(`{"other":true}`)
	h, _ := newHistory(t, squatter)
	created, err := h.Create(context.Background(), p, r, &count)
	if err != nil {
		t.Fatal(err)
	}
	if count != 1 || created.Name != Name("ds", Hash(r, &count)) || created.Labels[HashLabel] != Hash(r, &count) {
		t.Errorf("count %d, name %s, labels %v", count, created.Name, created.Labels)
	}
	// Creating the same revision again returns the existing one.
	again, err := h.Create(context.Background(), p, r, &count)
	if err != nil || again.Name != created.Name || count != 1 {
		t.Errorf("second create: %v %v count %d", again.Name, err, count)
	}
	if _, err := h.Create(context.Background(), p, r, nil); err == nil {
		t.Error("nil collision count accepted")
	}
}

// Claim keeps owned matching revisions, adopts matching orphans (after
// asking), releases owned ones that no longer match and ignores others.
func TestClaim(t *testing.T) {
	p := parent()
	mk := func(name string, lbl string, owned bool) *appsv1.ControllerRevision {
		r := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name),
			Labels: map[string]string{"app": lbl}}}
		if owned {
			r.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(p, kind)}
		}
		return r
	}
	h, client := newHistory(t, mk("owned", "a", true), mk("orphan", "a", false), mk("stray", "b", true), mk("foreign", "b", false))
	sel := labels.SelectorFromSet(labels.Set{"app": "a"})
	asked := 0
	got, err := h.Claim(context.Background(), p, kind, sel, func(context.Context) error { asked++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "orphan,owned" || asked != 1 {
		t.Errorf("claimed %v, asked %d", names, asked)
	}
	patched := map[string]string{}
	for _, a := range client.Actions() {
		if pa, ok := a.(core.PatchAction); ok {
			patched[pa.GetName()] = string(pa.GetPatch())
		}
	}
	if !strings.Contains(patched["orphan"], `"controller":true`) || !strings.Contains(patched["stray"], `"$patch":"delete"`) || len(patched) != 2 {
		t.Errorf("patches %v", patched)
	}
	var adopt map[string]any
	if err := json.Unmarshal([]byte(patched["orphan"]), &adopt); err != nil {
		t.Error(err)
	}
}

// Truncate keeps the newest limit revisions that are not live.
func TestTruncate(t *testing.T) {
	var revs []*appsv1.ControllerRevision
	var objs []runtime.Object
	for i, name := range []string{"r1", "r2", "r3", "r4", "r5"} {
		r := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)}, Revision: int64(i + 1)}
		revs = append(revs, r)
		objs = append(objs, r)
	}
	h, client := newHistory(t, objs...)
	if err := h.Truncate(context.Background(), revs, sets.New("r1", "r5"), 1); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range client.Actions() {
		if da, ok := a.(core.DeleteAction); ok {
			deleted = append(deleted, da.GetName())
		}
	}
	if strings.Join(deleted, ",") != "r2,r3" {
		t.Errorf("deleted %v, want r2,r3 (r1 and r5 live, r4 kept)", deleted)
	}
	if NextRevision(revs) != 6 || NextRevision(nil) != 1 {
		t.Error("NextRevision")
	}
}
