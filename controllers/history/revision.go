package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
)

// HashLabel is the label on revisions (and on DaemonSet and StatefulSet
// pods) naming the revision a template belongs to.
const HashLabel = appsv1.ControllerRevisionHashLabelKey

// maxPrefix keeps "<prefix>-<hash>" within a 253-character name.
const maxPrefix = 223

// TemplatePatch returns the revision data of a workload: a strategic merge
// patch that replaces spec.template with obj's. kubectl builds the same
// bytes to decide whether `rollout undo` has anything to do, so the
// encoding (encoding/json, sorted keys) must stay as it is.
func TemplatePatch(obj any) ([]byte, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	spec, ok := raw["spec"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%T has no spec", obj)
	}
	template, ok := spec["template"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%T has no spec.template", obj)
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}

// New returns an unnamed revision of parent holding data; Create names it.
func New(parent metav1.Object, kind schema.GroupVersionKind, templateLabels map[string]string, data []byte, revision int64) *appsv1.ControllerRevision {
	lbl := make(map[string]string, len(templateLabels)+1)
	for k, v := range templateLabels {
		lbl[k] = v
	}
	// The parent's annotations go along, as upstream: kubectl rollout
	// history shows kubernetes.io/change-cause from the revision.
	var ann map[string]string
	if a := parent.GetAnnotations(); len(a) > 0 {
		ann = make(map[string]string, len(a))
		for k, v := range a {
			ann[k] = v
		}
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       parent.GetNamespace(),
			Labels:          lbl,
			Annotations:     ann,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(parent, kind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
}

// Hash is the revision's hash: FNV-32a over its data and, when set, the
// parent's collision count (bumped when a name is taken by a revision
// with other data), encoded to be safe in names and label values.
func Hash(rev *appsv1.ControllerRevision, collisionCount *int32) string {
	h := fnv.New32a()
	h.Write(rev.Data.Raw)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// Name is the revision name for a parent name and hash.
func Name(prefix, hash string) string {
	if len(prefix) > maxPrefix {
		prefix = prefix[:maxPrefix]
	}
	return prefix + "-" + hash
}

// Equal reports whether two revisions hold the same template.
func Equal(a, b *appsv1.ControllerRevision) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Data.Raw, b.Data.Raw)
}

// FindEqual returns the revisions equal to needle, in the order given.
func FindEqual(revs []*appsv1.ControllerRevision, needle *appsv1.ControllerRevision) []*appsv1.ControllerRevision {
	var out []*appsv1.ControllerRevision
	for _, r := range revs {
		if Equal(r, needle) {
			out = append(out, r)
		}
	}
	return out
}

// Sort orders revisions by revision number, then creation time, then name.
func Sort(revs []*appsv1.ControllerRevision) {
	sort.SliceStable(revs, func(i, j int) bool {
		a, b := revs[i], revs[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// NextRevision is one more than the highest revision number in revs.
func NextRevision(revs []*appsv1.ControllerRevision) int64 {
	var maxRev int64
	for _, r := range revs {
		maxRev = max(maxRev, r.Revision)
	}
	return maxRev + 1
}
