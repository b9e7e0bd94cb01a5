package apiserver

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"corral/api"
	"corral/api/printers"
)

// REST is the storage of one resource: the generic etcd-backed store plus
// the discovery details kubectl uses (short names, categories).
type REST struct {
	*genericregistry.Store
	res *api.Resource
}

func (r *REST) ShortNames() []string { return r.res.ShortNames }
func (r *REST) Categories() []string { return r.res.Categories }

// newStore builds the generic store of a resource with the shared strategy.
func newStore(res *api.Resource, h hooks, getter generic.RESTOptionsGetter) (*genericregistry.Store, *strategy, error) {
	st := newStrategy(res, h)
	store := &genericregistry.Store{
		NewFunc:                   res.New,
		NewListFunc:               res.NewList,
		PredicateFunc:             st.predicate,
		DefaultQualifiedResource:  res.GroupResource(),
		SingularQualifiedResource: schema.GroupResource{Group: res.Group, Resource: res.Singular},
		CreateStrategy:            st,
		UpdateStrategy:            st,
		DeleteStrategy:            st,
		ResetFieldsStrategy:       st,
		TableConvertor:            printers.TableConvertor(res.GroupResource()),
	}
	opts := &generic.StoreOptions{RESTOptions: getter, AttrFunc: st.attrs}
	if f := res.IndexField; f != "" {
		opts.TriggerFunc = storage.IndexerFuncs{f: res.IndexOf}
		opts.Indexers = &cache.Indexers{storage.FieldIndex(f): func(obj any) ([]string, error) {
			o, ok := obj.(runtime.Object)
			if !ok {
				return nil, fmt.Errorf("indexing %s: %T is not an object", f, obj)
			}
			return []string{res.IndexOf(o)}, nil
		}}
	}
	if err := store.CompleteWithOptions(opts); err != nil {
		return nil, nil, fmt.Errorf("storage for %s: %w", res.GroupResource(), err)
	}
	return store, st, nil
}

// StatusREST serves <resource>/status: get, and updates that change status only.
type StatusREST struct {
	store *genericregistry.Store
}

func newStatusREST(store *genericregistry.Store, st *strategy) *StatusREST {
	s := *store
	s.CreateStrategy = nil
	s.DeleteStrategy = nil
	s.UpdateStrategy = statusStrategy{st}
	s.ResetFieldsStrategy = statusStrategy{st}
	return &StatusREST{store: &s}
}

func (r *StatusREST) New() runtime.Object { return r.store.New() }
func (r *StatusREST) Destroy()            {}

func (r *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

func (r *StatusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc,
	updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	// Status updates never create the object.
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

func (r *StatusREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}

func (r *StatusREST) ConvertToTable(ctx context.Context, obj runtime.Object, opts runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, obj, opts)
}
