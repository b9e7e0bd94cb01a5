package api

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"corral/api/defaults"
)

var (
	// Scheme knows every kind corral serves, external and internal aliases.
	Scheme = runtime.NewScheme()
	// Codecs encodes and decodes the kinds of Scheme in JSON, YAML and protobuf.
	Codecs = serializer.NewCodecFactory(Scheme)
)

// groupInstallers add the external types of each served group version.
var groupInstallers = []func(*runtime.Scheme) error{
	corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
	coordinationv1.AddToScheme, discoveryv1.AddToScheme, networkingv1.AddToScheme,
	autoscalingv1.AddToScheme, autoscalingv2.AddToScheme, policyv1.AddToScheme,
	rbacv1.AddToScheme, schedulingv1.AddToScheme, storagev1.AddToScheme,
	eventsv1.AddToScheme, authorizationv1.AddToScheme, authenticationv1.AddToScheme,
	// metrics.k8s.io is served from the agents' stats, never stored (apiserver/metrics.go).
	metricsv1beta1.AddToScheme,
}

// internalVersionOf names, per group, the external version whose Go types
// double as the group's internal types. Only autoscaling serves two versions
// of one kind; there v2 is the hub and v1 is converted (conversion.go).
var internalVersionOf = map[string]string{"autoscaling": "v2"}

func init() {
	for _, install := range groupInstallers {
		utilruntime.Must(install(Scheme))
	}
	utilruntime.Must(registerInternalAliases(Scheme))
	utilruntime.Must(addConversions(Scheme))
	utilruntime.Must(addFieldLabelConversions(Scheme))
	utilruntime.Must(defaults.RegisterDefaults(Scheme))

	// The generic server decodes query options with an unversioned v1.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Group: "", Version: "v1"}
	Scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{},
		&metav1.APIGroup{}, &metav1.APIResourceList{},
	)
}

var metaV1Package = reflect.TypeOf(metav1.Status{}).PkgPath()

// registerInternalAliases registers every external API type (not the meta/v1
// option and status types) a second time as its group's internal kind.
func registerInternalAliases(s *runtime.Scheme) error {
	known := map[schema.GroupVersionKind]reflect.Type{}
	for gvk, t := range s.AllKnownTypes() {
		known[gvk] = t
	}
	for gvk, t := range known {
		if gvk.Version == runtime.APIVersionInternal || t.PkgPath() == metaV1Package {
			continue
		}
		if v, ok := internalVersionOf[gvk.Group]; ok && v != gvk.Version {
			if _, clash := known[schema.GroupVersionKind{Group: gvk.Group, Version: v, Kind: gvk.Kind}]; clash {
				continue
			}
		}
		if hub, ok := sharedHubs[gvk.GroupKind()]; ok {
			t = reflect.TypeOf(hub).Elem()
		}
		internal := schema.GroupVersionKind{Group: gvk.Group, Version: runtime.APIVersionInternal, Kind: gvk.Kind}
		if existing, ok := s.AllKnownTypes()[internal]; ok && existing != t {
			continue
		}
		s.AddKnownTypeWithName(internal, reflect.New(t).Interface().(runtime.Object))
	}
	return nil
}

// sharedHubs are kinds of one group whose objects are stored as another
// group's type: events.k8s.io/v1 Events are core/v1 Events seen through
// another schema (upstream stores both in one place too).
var sharedHubs = map[schema.GroupKind]runtime.Object{
	{Group: "events.k8s.io", Kind: "Event"}:     &corev1.Event{},
	{Group: "events.k8s.io", Kind: "EventList"}: &corev1.EventList{},
}

// StorageVersions are the versions objects are written to etcd in.
func StorageVersions() []schema.GroupVersion {
	seen := map[schema.GroupVersion]bool{}
	var out []schema.GroupVersion
	for _, r := range Resources {
		if r.StorageOf != nil {
			continue
		}
		gv := r.GroupVersion()
		if v, ok := internalVersionOf[gv.Group]; ok {
			gv.Version = v
		}
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	return out
}
