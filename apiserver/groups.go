package apiserver

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"corral/api"
)

// hooksFor holds the resource-specific behaviour of the shared strategy.
var hooksFor = map[schema.GroupResource]hooks{
	{Resource: "pods"}:                      podHooks,
	{Resource: "namespaces"}:                namespaceHooks,
	{Resource: "services"}:                  serviceHooks,
	{Group: "batch", Resource: "jobs"}:      jobHooks,
	{Group: "apps", Resource: "daemonsets"}: daemonSetHooks,
}

// preferredVersion overrides the scheme's version order where upstream
// prefers a newer version.
var preferredVersion = map[string]string{"autoscaling": "v2"}

// buildGroups makes the storage of every resource in api.Resources and
// groups it for installation.
func buildGroups(getter generic.RESTOptionsGetter, allocs *serviceAllocations, tokens authenticator.Token, sa *SATokens, agentCert agentCertFiles) ([]*genericapiserver.APIGroupInfo, error) {
	reviews := reviewStorage(Authorizer{}, Authorizer{}, tokens)
	stores := map[schema.GroupResource]map[string]rest.Storage{}
	sa.objects = newRegistryObjects(stores)
	infos := map[string]*genericapiserver.APIGroupInfo{}
	var order []string
	for _, res := range api.Resources {
		info, ok := infos[res.Group]
		if !ok {
			i := genericapiserver.NewDefaultAPIGroupInfo(res.Group, api.Scheme, metav1.ParameterCodec, api.Codecs)
			info = &i
			if res.Group == "" {
				info.ParameterCodec = podParameterCodec{metav1.ParameterCodec}
			}
			infos[res.Group] = info
			order = append(order, res.Group)
		}
		gv := res.GroupVersion()
		if !containsGV(info.PrioritizedVersions, gv) {
			if preferredVersion[gv.Group] == gv.Version {
				info.PrioritizedVersions = append([]schema.GroupVersion{gv}, info.PrioritizedVersions...)
			} else {
				info.PrioritizedVersions = append(info.PrioritizedVersions, gv)
			}
		}
		versionMap := info.VersionedResourcesStorageMap[gv.Version]
		if versionMap == nil {
			versionMap = map[string]rest.Storage{}
			info.VersionedResourcesStorageMap[gv.Version] = versionMap
		}
		var storage map[string]rest.Storage
		switch {
		case res.Virtual:
			storage = map[string]rest.Storage{res.Plural: reviews[res.Group][res.Plural]}
		case res.StorageOf != nil:
			storage = stores[*res.StorageOf]
			if storage == nil {
				return nil, fmt.Errorf("%s shares the storage of %s, which is not built yet", res.GroupResource(), res.StorageOf)
			}
		default:
			var err error
			if storage, err = resourceStorage(res, getter, allocs, stores, sa, agentCert); err != nil {
				return nil, err
			}
			stores[res.GroupResource()] = storage
		}
		for path, s := range storage {
			versionMap[path] = s
		}
	}
	out := make([]*genericapiserver.APIGroupInfo, 0, len(order)+1)
	for _, g := range order {
		out = append(out, infos[g])
	}
	metrics, err := metricsGroup(stores, agentCert)
	if err != nil {
		return nil, err
	}
	return append(out, metrics), nil
}

// resourceStorage builds the main storage and the subresources of one resource.
func resourceStorage(res *api.Resource, getter generic.RESTOptionsGetter, allocs *serviceAllocations,
	built map[schema.GroupResource]map[string]rest.Storage, sa *SATokens, agentCert agentCertFiles) (map[string]rest.Storage, error) {
	store, st, err := newStore(res, hooksFor[res.GroupResource()], getter)
	if err != nil {
		return nil, err
	}
	main := &REST{Store: store, res: res}
	out := map[string]rest.Storage{res.Plural: main}
	if res.Status {
		out[res.Plural+"/status"] = newStatusREST(store, st)
	}
	if res.Scale {
		out[res.Plural+"/scale"] = &ScaleREST{store: store}
	}
	switch res.GroupResource() {
	case schema.GroupResource{Resource: "pods"}:
		store.EnableGarbageCollection = true
		out["pods/binding"] = &BindingREST{store: store}
		pdbs := &lazyStore{built: built, gr: schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}}
		out["pods/eviction"] = &EvictionREST{pods: store, status: out["pods/status"].(*StatusREST), pdbs: pdbs}
		agents, err := newAgentDialer(&lazyStore{built: built, gr: schema.GroupResource{Resource: "nodes"}}, agentCert.cert, agentCert.key)
		if err != nil {
			return nil, err
		}
		out["pods/log"] = &LogREST{pods: store, agents: agents}
		out["pods/exec"] = &ExecREST{streamREST{pods: store, agents: agents}}
		out["pods/attach"] = &AttachREST{streamREST{pods: store, agents: agents}}
		out["pods/portforward"] = &PortForwardREST{streamREST{pods: store, agents: agents}}
	case schema.GroupResource{Resource: "namespaces"}:
		out[res.Plural] = &NamespaceREST{REST: main}
		out["namespaces/finalize"] = newFinalizeREST(store, st)
	case schema.GroupResource{Resource: "services"}:
		allocs.install(store)
	case schema.GroupResource{Resource: "serviceaccounts"}:
		out["serviceaccounts/token"] = &TokenREST{tokens: sa}
	}
	return out, nil
}

// lazyStore finds another resource's store once all are built (pods are
// built before the budgets that evictions consult).
type lazyStore struct {
	built map[schema.GroupResource]map[string]rest.Storage
	gr    schema.GroupResource
}

func (l *lazyStore) store() *genericregistry.Store {
	return l.built[l.gr][l.gr.Resource].(*REST).Store
}

func containsGV(list []schema.GroupVersion, gv schema.GroupVersion) bool {
	for _, x := range list {
		if x == gv {
			return true
		}
	}
	return false
}
