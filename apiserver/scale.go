package apiserver

import (
	"context"
	"fmt"
	"reflect"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// ScaleREST serves <resource>/scale as an autoscaling/v1 Scale for any
// workload whose spec has Replicas and Selector and whose status has
// Replicas (deployments, replicasets, statefulsets).
type ScaleREST struct {
	store *registry.Store
}

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

func (r *ScaleREST) New() runtime.Object   { return &autoscalingv1.Scale{} }
func (r *ScaleREST) Destroy()              {}
func (r *ScaleREST) NamespaceScoped() bool { return true }

// GroupVersionKind tells the installer that scale speaks autoscaling/v1.
func (r *ScaleREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind { return scaleGVK }

func (r *ScaleREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{"autoscaling/v1": fieldpath.NewSet(fieldpath.MakePathOrDie("status"))}
}

func (r *ScaleREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.store.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	return scaleOf(obj)
}

func (r *ScaleREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc,
	updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	transform := func(ctx context.Context, _, oldObj runtime.Object) (runtime.Object, error) {
		oldScale, err := scaleOf(oldObj)
		if err != nil {
			return nil, err
		}
		obj, err := objInfo.UpdatedObject(ctx, oldScale)
		if err != nil {
			return nil, err
		}
		scale, ok := obj.(*autoscalingv1.Scale)
		if !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("expected an autoscaling/v1 Scale, got %T", obj))
		}
		if scale.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), scale.Spec.Replicas, "must be greater than or equal to 0")})
		}
		if scale.ResourceVersion != "" && scale.ResourceVersion != oldScale.ResourceVersion {
			return nil, apierrors.NewConflict(r.store.DefaultQualifiedResource, name,
				fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
		}
		if updateValidation != nil {
			if err := updateValidation(ctx, scale, oldScale); err != nil {
				return nil, err
			}
		}
		replicas := scale.Spec.Replicas
		newObj := oldObj.DeepCopyObject()
		structOf(newObj).FieldByName("Spec").FieldByName("Replicas").Set(reflect.ValueOf(&replicas))
		return newObj, nil
	}
	obj, _, err := r.store.Update(ctx, name, rest.DefaultUpdatedObjectInfo(nil, transform), nil, nil, false, options)
	if err != nil {
		return nil, false, err
	}
	scale, err := scaleOf(obj)
	return scale, false, err
}

func scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	v := structOf(obj)
	spec, status := v.FieldByName("Spec"), v.FieldByName("Status")
	m := v.FieldByName("ObjectMeta").Interface().(metav1.ObjectMeta)
	scale := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: m.Namespace, UID: m.UID,
			ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp,
		},
	}
	if p, ok := spec.FieldByName("Replicas").Interface().(*int32); ok && p != nil {
		scale.Spec.Replicas = *p
	}
	scale.Status.Replicas = int32(status.FieldByName("Replicas").Int())
	if sel, ok := spec.FieldByName("Selector").Interface().(*metav1.LabelSelector); ok && sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		scale.Status.Selector = s.String()
	}
	return scale, nil
}

var scaleColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the scaled object"},
	{Name: "Desired", Type: "integer", Description: "Desired replicas (spec.replicas)"},
	{Name: "Available", Type: "integer", Description: "Current replicas (status.replicas)"},
}

// ConvertToTable prints a Scale as kubectl shows it upstream
// (`kubectl get deploy/x --subresource=scale`).
func (r *ScaleREST) ConvertToTable(_ context.Context, obj runtime.Object, opts runtime.Object) (*metav1.Table, error) {
	scale, ok := obj.(*autoscalingv1.Scale)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("expected an autoscaling/v1 Scale, got %T", obj))
	}
	t := &metav1.Table{Rows: []metav1.TableRow{{
		Cells:  []interface{}{scale.Name, int64(scale.Spec.Replicas), int64(scale.Status.Replicas)},
		Object: runtime.RawExtension{Object: scale},
	}}}
	if o, ok := opts.(*metav1.TableOptions); !ok || !o.NoHeaders {
		t.ColumnDefinitions = scaleColumns
	}
	return t, nil
}
