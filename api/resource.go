package api

import (
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource is everything that sets one served resource apart from another.
// Adding a resource to corral is adding one entry to Resources (plus, where
// the resource needs them, a defaulting function, a validation case and a
// table printer in their packages).
type Resource struct {
	Group, Version string
	// Plural is the path segment (pods); Kind and Singular follow from it.
	Plural, Singular, Kind string
	Namespaced             bool
	ShortNames             []string
	Categories             []string
	New, NewList           func() runtime.Object

	// Status serves <plural>/status; Scale serves <plural>/scale.
	Status, Scale bool
	// Fields are selectable field labels beyond metadata.name and
	// metadata.namespace, with the function that reads them from an object.
	Fields   []string
	FieldsOf func(obj runtime.Object) fields.Set
	// IndexField, one of Fields, is indexed by the watch cache, with
	// IndexOf reading it: a list selecting one value of it reads only the
	// matching objects, and a watch selecting one value is sent only the
	// events of matching objects (each node agent watches its node's pods
	// by spec.nodeName, as upstream's pod storage does).
	IndexField string
	IndexOf    func(obj runtime.Object) string
	// AllowCreateOnUpdate lets PUT create a missing object (as upstream does
	// for endpoints, events and leases).
	AllowCreateOnUpdate bool
	// Virtual resources (reviews) are served but never stored.
	Virtual bool
	// StorageOf names another resource whose storage this one shares (for
	// the same objects served in a second version).
	StorageOf *schema.GroupResource
}

// GroupVersion of the resource.
func (r *Resource) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}
}

// GroupResource of the resource.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Plural}
}

// GroupVersionKind of the resource's objects.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GroupVersion().WithKind(r.Kind)
}

// Lookup finds a served resource by group, version and plural.
func Lookup(gvr schema.GroupVersionResource) *Resource {
	for _, r := range Resources {
		if r.Group == gvr.Group && r.Version == gvr.Version && r.Plural == gvr.Resource {
			return r
		}
	}
	return nil
}
