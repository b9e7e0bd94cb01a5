package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
)

// writeProbe is a side client that, while a scenario runs, updates one
// small ConfigMap at a steady pace and records each write's latency: what
// a user's kubectl apply would see while the control plane is busy.
type writeProbe struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	lat    []time.Duration
	errs   int
}

// startWriteProbe writes every interval into namespace ns (created here)
// on a connection of its own, until stop.
func startWriteProbe(ctx context.Context, cfg *restclient.Config, ns string, interval time.Duration) (*writeProbe, error) {
	c, err := protobufClient(ownConnection(cfg))
	if err != nil {
		return nil, err
	}
	if err := newNamespace(ctx, c, ns); err != nil {
		return nil, err
	}
	cm, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "probe"},
		Data: map[string]string{"n": "0"}}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &writeProbe{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
			}
			cm.Data["n"] = fmt.Sprint(n)
			t := time.Now()
			got, err := c.CoreV1().ConfigMaps(ns).Update(pctx, cm, metav1.UpdateOptions{})
			d := time.Since(t)
			p.mu.Lock()
			if err != nil {
				if pctx.Err() == nil {
					p.errs++
				}
			} else {
				p.lat = append(p.lat, d)
				cm = got
			}
			p.mu.Unlock()
		}
	}()
	return p, nil
}

// stop ends the probe and returns its latencies and failed writes.
func (p *writeProbe) stop() ([]time.Duration, int) {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lat, p.errs
}

// mutatingVerbs are the request verbs of apiserver_request_duration_seconds
// that change state.
var mutatingVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true, "DELETECOLLECTION": true, "APPLY": true}

// histogram is one cumulative bucket count per upper bound.
type histogram map[float64]float64

// serverMetrics scrapes the server's /metrics.
func serverMetrics(ctx context.Context, cfg *restclient.Config) (map[string]*dto.MetricFamily, error) {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	body, err := c.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scraping /metrics: %w", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("parsing /metrics: %w", err)
	}
	return families, nil
}

// mutatingHistogram sums apiserver_request_duration_seconds over the
// mutating verbs.
func mutatingHistogram(families map[string]*dto.MetricFamily) (histogram, error) {
	fam, ok := families["apiserver_request_duration_seconds"]
	if !ok || fam.GetType() != dto.MetricType_HISTOGRAM {
		return nil, fmt.Errorf("/metrics has no apiserver_request_duration_seconds histogram")
	}
	h := histogram{}
	for _, m := range fam.Metric {
		verb := ""
		for _, l := range m.Label {
			if l.GetName() == "verb" {
				verb = l.GetValue()
			}
		}
		if !mutatingVerbs[verb] {
			continue
		}
		// The +Inf bucket is the sample count, whether or not the parser
		// lists it among the buckets.
		for _, b := range m.GetHistogram().Bucket {
			if !math.IsInf(b.GetUpperBound(), 1) {
				h[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			}
		}
		h[math.Inf(1)] += float64(m.GetHistogram().GetSampleCount())
	}
	return h, nil
}

// rejected counts the requests the server turned away with 429 (its
// max-in-flight limits).
func rejected(families map[string]*dto.MetricFamily) float64 {
	n := 0.0
	for _, m := range families["apiserver_request_total"].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "code" && l.GetValue() == "429" {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// counter is the value of an unlabelled counter, 0 when it is absent.
func counter(families map[string]*dto.MetricFamily, name string) float64 {
	n := 0.0
	for _, m := range families[name].GetMetric() {
		n += m.GetCounter().GetValue()
	}
	return n
}

// evictionsMetric counts the pods the node lifecycle controller deleted
// from nodes it took for dead (or that had untolerated NoExecute taints).
const evictionsMetric = "taint_eviction_controller_pod_deletions_total"

// quantileSince is the q-quantile of the requests counted between the
// scrapes before and after, interpolated within the bucket as
// Prometheus's histogram_quantile does, with the request count. Past the
// largest finite bound it answers that bound (a floor, so ok is false).
func quantileSince(before, after histogram, q float64) (v time.Duration, n int, ok bool) {
	var bounds []float64
	for le := range after {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	total := after[math.Inf(1)] - before[math.Inf(1)]
	if total <= 0 {
		return 0, 0, false
	}
	rank := q * total
	prevLe, prevCount := 0.0, 0.0
	for _, le := range bounds {
		count := after[le] - before[le]
		if count >= rank {
			if math.IsInf(le, 1) {
				return seconds(prevLe), int(total), false
			}
			frac := 0.0
			if count > prevCount {
				frac = (rank - prevCount) / (count - prevCount)
			}
			return seconds(prevLe + (le-prevLe)*frac), int(total), true
		}
		prevLe, prevCount = le, count
	}
	return seconds(prevLe), int(total), false
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
