package apiserver

import (
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	epmetrics "k8s.io/apiserver/pkg/endpoints/metrics"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericfilters "k8s.io/apiserver/pkg/server/filters"

	"corral/api"
)

// longRunning says which requests the in-flight limits, the 60 s timeout
// and the shutdown wait leave alone: watches and the streams to node
// agents, as usual, and node heartbeats (which heartbeatLane bounds).
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
// priority and fairness gives these requests their own share; corral
// gives them their own lane past the general limits (heartbeatLane).
//
// Node status writes count too, as in upstream's system-node-high
// priority level: once a late renewal has made a node Ready=Unknown, the
// node is Ready again only when its agent posts Ready, and a 429 there
// kept live nodes NotReady while their leases were fresh.
func nodeHeartbeat(ri *apirequest.RequestInfo) bool {
	if ri == nil || !ri.IsResourceRequest {
		return false
	}
	switch {
	case ri.APIGroup == "coordination.k8s.io" && ri.Resource == "leases" && ri.Namespace == "kube-node-lease" && ri.Subresource == "":
		return ri.Verb == "get" || ri.Verb == "create" || ri.Verb == "update" || ri.Verb == "patch"
	case ri.APIGroup == "" && ri.Resource == "nodes" && ri.Subresource == "status":
		return ri.Verb == "update" || ri.Verb == "patch"
	}
	return false
}

// Heartbeat lane bounds: renewals served at once, and how long one waits
// for a slot before it is answered 429 (client-go retries after the
// Retry-After second). 1,000 nodes on 10 s leases renew 400 times a
// second; on a saturated 2-core server a renewal took 0.37 s, so 100
// slots served only 270 a second (mean 1.05 s with the wait, 17% 2-4 s)
// and nodes went NotReady. The lane's share of the CPU follows its share
// of the requests in flight, beside 200 mutating and 400 other.
const (
	heartbeatConcurrency = 200
	heartbeatWait        = 5 * time.Second
)

// heartbeatLane is the node heartbeats' own in-flight limit, like a
// priority level of upstream's priority and fairness: at most
// concurrency renewals are served at once and the others queue for up
// to wait. Thousands of nodes then cannot crowd out the other clients,
// and the other clients cannot crowd out the heartbeats. It wraps the
// innermost API handler, where the request's info is known.
func heartbeatLane(next http.Handler, concurrency int, wait time.Duration) http.Handler {
	slots := make(chan struct{}, concurrency)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri, _ := apirequest.RequestInfoFrom(r.Context())
		if !nodeHeartbeat(ri) {
			next.ServeHTTP(w, r)
			return
		}
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case slots <- struct{}{}:
		case <-timer.C:
			// Counted as the max-in-flight filter counts its 429s
			// (apiserver_request_total): the lane answers before the
			// instrumented route would.
			epmetrics.RecordDroppedRequest(r, ri, epmetrics.APIServerComponent, ri.Verb != "get")
			err := apierrors.NewTooManyRequests("too many node heartbeats in flight, please try again later", 1)
			responsewriters.ErrorNegotiated(err, api.Codecs, schema.GroupVersion{Group: ri.APIGroup, Version: ri.APIVersion}, w, r)
			return
		case <-r.Context().Done():
			return
		}
		defer func() { <-slots }()
		next.ServeHTTP(w, r)
	})
}
