package apiserver

import (
	"context"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"corral/api"
	"corral/api/validation"
)

// hooks are the per-resource behaviours that the generic strategy calls.
type hooks struct {
	// prepareForCreate fills server-owned fields of a new object.
	prepareForCreate func(ctx context.Context, obj runtime.Object)
	// prepareForUpdate adjusts an update (after spec/status were separated).
	prepareForUpdate func(ctx context.Context, obj, old runtime.Object)
	// prepareForStatusUpdate adjusts a <resource>/status update.
	prepareForStatusUpdate func(ctx context.Context, obj, old runtime.Object)
	// gracefulDelete decides the grace period of a delete (pods).
	gracefulDelete func(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool
}

// strategy is the one create/update/delete strategy all resources share;
// what differs between resources comes from api.Resource and hooks.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	res   *api.Resource
	hooks hooks
}

func newStrategy(res *api.Resource, h hooks) *strategy {
	return &strategy{ObjectTyper: api.Scheme, NameGenerator: names.SimpleNameGenerator, res: res, hooks: h}
}

func (s *strategy) NamespaceScoped() bool                         { return s.res.Namespaced }
func (s *strategy) AllowCreateOnUpdate(context.Context) bool      { return s.res.AllowCreateOnUpdate }
func (s *strategy) AllowUnconditionalUpdate(context.Context) bool { return true }
func (s *strategy) Canonicalize(runtime.Object)                   {}

func (s *strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	if s.res.Status {
		clearField(obj, "Status")
	}
	if hasSpec(obj) {
		m, _ := meta.Accessor(obj)
		m.SetGeneration(1)
	}
	if s.hooks.prepareForCreate != nil {
		s.hooks.prepareForCreate(ctx, obj)
	}
}

func (s *strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	if s.res.Status {
		copyField(obj, old, "Status")
	}
	bumpGenerationOnSpecChange(obj, old)
	if s.hooks.prepareForUpdate != nil {
		s.hooks.prepareForUpdate(ctx, obj, old)
	}
}

func (s *strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateCreate(obj)
}

func (s *strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateUpdate(obj, old)
}

func (s *strategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }
func (s *strategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// GetResetFields tells server-side apply which fields the main resource
// ignores: status, when the resource has a status subresource.
func (s *strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	if !s.res.Status {
		return nil
	}
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.res.GroupVersion().String()): fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// statusStrategy serves <resource>/status: only status changes stick.
type statusStrategy struct{ *strategy }

func (s statusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	keepAllButStatus(obj, old)
	if s.hooks.prepareForStatusUpdate != nil {
		s.hooks.prepareForStatusUpdate(ctx, obj, old)
	}
}

func (s statusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateStatusUpdate(obj, old)
}

func (s statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	set := fieldpath.NewSet()
	if hasSpec(s.res.New()) {
		set.Insert(fieldpath.MakePathOrDie("spec"))
	}
	return map[fieldpath.APIVersion]*fieldpath.Set{fieldpath.APIVersion(s.res.GroupVersion().String()): set}
}

// attrs returns the labels and selectable fields of an object.
func (s *strategy) attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, err
	}
	fs := fields.Set{"metadata.name": m.GetName()}
	if s.res.Namespaced {
		fs["metadata.namespace"] = m.GetNamespace()
	}
	if s.res.FieldsOf != nil {
		fs = generic.MergeFieldsSets(fs, s.res.FieldsOf(obj))
	}
	return labels.Set(m.GetLabels()), fs, nil
}

func (s *strategy) predicate(l labels.Selector, f fields.Selector) storage.SelectionPredicate {
	p := storage.SelectionPredicate{Label: l, Field: f, GetAttrs: s.attrs}
	if s.res.IndexField != "" {
		p.IndexFields = []string{s.res.IndexField}
	}
	return p
}

// The helpers below treat objects structurally: every served type is a
// struct with TypeMeta and ObjectMeta and, for most, Spec and Status.

func structOf(obj runtime.Object) reflect.Value { return reflect.ValueOf(obj).Elem() }

func hasSpec(obj runtime.Object) bool {
	return structOf(obj).FieldByName("Spec").IsValid()
}

func clearField(obj runtime.Object, name string) {
	if f := structOf(obj).FieldByName(name); f.IsValid() {
		f.Set(reflect.Zero(f.Type()))
	}
}

func copyField(dst, src runtime.Object, name string) {
	if f := structOf(dst).FieldByName(name); f.IsValid() {
		f.Set(structOf(src).FieldByName(name))
	}
}

// keepAllButStatus makes obj equal to old except for status and metadata;
// generation, deletion and owners stay as they were.
func keepAllButStatus(obj, old runtime.Object) {
	v, o := structOf(obj), structOf(old)
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if name == "TypeMeta" || name == "ObjectMeta" || name == "Status" {
			continue
		}
		v.Field(i).Set(o.Field(i))
	}
	m, _ := meta.Accessor(obj)
	om, _ := meta.Accessor(old)
	m.SetGeneration(om.GetGeneration())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetOwnerReferences(om.GetOwnerReferences())
}

// bumpGenerationOnSpecChange increments metadata.generation when anything
// but metadata and status changed, or when deletion began.
func bumpGenerationOnSpecChange(obj, old runtime.Object) {
	m, _ := meta.Accessor(obj)
	om, _ := meta.Accessor(old)
	m.SetGeneration(om.GetGeneration())
	v, o := structOf(obj), structOf(old)
	changed := false
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if name == "TypeMeta" || name == "ObjectMeta" || name == "Status" {
			continue
		}
		if !equality.Semantic.DeepEqual(v.Field(i).Interface(), o.Field(i).Interface()) {
			changed = true
		}
	}
	if changed && hasSpec(obj) {
		m.SetGeneration(om.GetGeneration() + 1)
	}
}

var (
	_ rest.RESTCreateStrategy = &strategy{}
	_ rest.RESTUpdateStrategy = &strategy{}
	_ rest.RESTUpdateStrategy = statusStrategy{}
)

// CheckGracefulDelete lets a resource hook set the delete's grace period.
func (s *strategy) CheckGracefulDelete(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool {
	if s.hooks.gracefulDelete == nil {
		return false
	}
	return s.hooks.gracefulDelete(ctx, obj, options)
}
