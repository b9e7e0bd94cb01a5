package apiserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	epmetrics "k8s.io/apiserver/pkg/endpoints/metrics"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/component-base/metrics/legacyregistry"
)

func TestLongRunning(t *testing.T) {
	lease := func(verb, ns string) *apirequest.RequestInfo {
		return &apirequest.RequestInfo{IsResourceRequest: true, Verb: verb, APIGroup: "coordination.k8s.io",
			APIVersion: "v1", Resource: "leases", Namespace: ns, Name: "n1"}
	}
	cases := []struct {
		name string
		ri   *apirequest.RequestInfo
		want bool
	}{
		{"node lease renewal", lease("update", "kube-node-lease"), true},
		{"node lease creation", lease("create", "kube-node-lease"), true},
		{"node lease deletion", lease("delete", "kube-node-lease"), false},
		{"leader election lease", lease("update", "kube-system"), false},
		{"node status", &apirequest.RequestInfo{IsResourceRequest: true, Verb: "patch", Resource: "nodes", Subresource: "status", Name: "n1"}, true},
		{"node spec", &apirequest.RequestInfo{IsResourceRequest: true, Verb: "patch", Resource: "nodes", Name: "n1"}, false},
		{"pod status", &apirequest.RequestInfo{IsResourceRequest: true, Verb: "update", Resource: "pods", Subresource: "status", Namespace: "default"}, false},
		{"watch", &apirequest.RequestInfo{IsResourceRequest: true, Verb: "watch", Resource: "pods"}, true},
		{"exec", &apirequest.RequestInfo{IsResourceRequest: true, Verb: "create", Resource: "pods", Subresource: "exec"}, true},
	}
	check := longRunning()
	for _, c := range cases {
		if got := check(httptest.NewRequest("GET", "/", nil), c.ri); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestHeartbeatLane(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 4)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	lane := heartbeatLane(inner, 1, 50*time.Millisecond)
	request := func(ri *apirequest.RequestInfo) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1", nil)
		lane.ServeHTTP(rec, r.WithContext(apirequest.WithRequestInfo(r.Context(), ri)))
		return rec
	}
	renewal := &apirequest.RequestInfo{IsResourceRequest: true, Verb: "update", APIGroup: "coordination.k8s.io",
		APIVersion: "v1", Resource: "leases", Namespace: "kube-node-lease", Name: "n1"}

	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- request(renewal) }()
	<-entered // the one slot is taken

	// A second renewal waits out its bound and is told to come back,
	// counted in apiserver_request_total as the in-flight limits count.
	epmetrics.Register()
	before := droppedLeaseWrites(t)
	rec := request(renewal)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("second renewal: %d, Retry-After %q; want 429 and 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := droppedLeaseWrites(t); got != before+1 {
		t.Errorf("apiserver_request_total for leases PUT 429 went from %v to %v, want one more", before, got)
	}
	var status metav1.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &status); err != nil || status.Kind != "Status" || status.Reason != metav1.StatusReasonTooManyRequests {
		t.Fatalf("second renewal's body is not a TooManyRequests Status: %v %s", err, rec.Body)
	}

	// Other requests do not use the lane.
	go request(&apirequest.RequestInfo{IsResourceRequest: true, Verb: "update", Resource: "pods", Namespace: "default"})
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("a pod update waited for the heartbeat lane")
	}
	close(release)
	if rec := <-first; rec.Code != http.StatusOK {
		t.Fatalf("first renewal: %d", rec.Code)
	}
}

// droppedLeaseWrites is apiserver_request_total{resource="leases",verb="PUT",code="429"}.
func droppedLeaseWrites(t *testing.T) float64 {
	t.Helper()
	families, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, f := range families {
		if f.GetName() != "apiserver_request_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["resource"] == "leases" && labels["verb"] == "PUT" && labels["code"] == "429" {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
