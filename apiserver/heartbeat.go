package apiserver

import (
	"net/http"

	"k8s.io/apimachinery/pkg/util/sets"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
)

// longRunning says which requests the in-flight limits, the 60 s timeout
// and the shutdown wait leave alone: watches and the streams to node
// agents, as usual, and node heartbeats.
func longRunning() apirequest.LongRunningRequestCheck {
	streams := genericfilters.BasicLongRunningRequestCheck(sets.NewString("watch"), sets.NewString("log", "exec", "attach", "portforward"))
	return func(r *http.Request, ri *apirequest.RequestInfo) bool {
		return streams(r, ri) || nodeHeartbeat(ri)
	}
}

// nodeHeartbeat: a node agent renewing its Lease. Without priority and
// fairness, the max-in-flight limits answer such a request 429 as soon
// as other clients fill them; the renewal comes late, the node lifecycle
// controller takes the node for dead and evicts its pods. Upstream's
// priority and fairness gives these requests their own share; corral lets
// them past the limits (they are small, one per node every few seconds).
func nodeHeartbeat(ri *apirequest.RequestInfo) bool {
	if ri == nil || !ri.IsResourceRequest || ri.APIGroup != "coordination.k8s.io" || ri.Resource != "leases" ||
		ri.Namespace != "kube-node-lease" || ri.Subresource != "" {
		return false
	}
	switch ri.Verb {
	case "get", "create", "update", "patch":
		return true
	}
	return false
}
