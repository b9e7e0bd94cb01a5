package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/klog/v2"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"k8s.io/utils/clock"

	"corral/agent/stats"
	"corral/api"
)

// This file serves metrics.k8s.io/v1beta1 (kubectl top) as metrics-server
// does, but without a cache of its own: each request reads the latest
// summaries (GET /stats/summary) of the agents of the nodes concerned.
// Nodes without an agent endpoint (simulated nodes announce port 0) and
// agents that do not answer are left out, not an error for the list.

// metricsAgentTimeout bounds one agent's answer (metrics-server's kubelet
// request timeout is 10s too).
const metricsAgentTimeout = 10 * time.Second

// metricsFanOut bounds the agents asked at once.
const metricsFanOut = 16

// errNoAgent: the node announces no agent endpoint.
var errNoAgent = errors.New("node announces no agent endpoint")

// metricsGroup is the metrics.k8s.io group over the node and pod stores.
func metricsGroup(built map[schema.GroupResource]map[string]rest.Storage, agentCert agentCertFiles) (*genericapiserver.APIGroupInfo, error) {
	nodes := &lazyStore{built: built, gr: schema.GroupResource{Resource: "nodes"}}
	agents, err := newAgentDialer(nodes, agentCert.cert, agentCert.key)
	if err != nil {
		return nil, err
	}
	src := &metricsSource{nodes: nodes, pods: &lazyStore{built: built, gr: schema.GroupResource{Resource: "pods"}},
		agents: agents, clock: clock.RealClock{}}
	info := genericapiserver.NewDefaultAPIGroupInfo(metricsv1beta1.GroupName, api.Scheme, metav1.ParameterCodec, api.Codecs)
	info.VersionedResourcesStorageMap[metricsv1beta1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		"nodes": &NodeMetricsREST{src}, "pods": &PodMetricsREST{src},
	}
	return &info, nil
}

// metricsSource reads nodes and pods from their stores and usage from
// the agents.
type metricsSource struct {
	nodes, pods *lazyStore
	agents      *agentDialer
	clock       clock.PassiveClock
	// fetch reads a node's summary (default: its agent's /stats/summary);
	// tests replace it.
	fetch func(ctx context.Context, node *corev1.Node) (*stats.Summary, error)
}

func (m *metricsSource) summary(ctx context.Context, node *corev1.Node) (*stats.Summary, error) {
	if m.fetch != nil {
		return m.fetch(ctx, node)
	}
	if m.agents.transport == nil {
		return nil, apierrors.NewServiceUnavailable("the API server has no client certificate for node agents")
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	host := nodeAddress(node)
	if port <= 0 || host == "" {
		return nil, errNoAgent
	}
	ctx, cancel := context.WithTimeout(ctx, metricsAgentTimeout)
	defer cancel()
	u := url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(int(port))), Path: "/stats/summary"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.agents.transport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s: %s", u.String(), resp.Status, msg)
	}
	var sum stats.Summary
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&sum); err != nil {
		return nil, fmt.Errorf("%s: %w", u.String(), err)
	}
	return &sum, nil
}

// summaries reads the summaries of nodes concurrently; nodes whose
// summary cannot be read are missing from the result (logged), unless
// the server cannot reach any agent at all (503).
func (m *metricsSource) summaries(ctx context.Context, nodes []*corev1.Node) (map[string]*stats.Summary, error) {
	out := make(map[string]*stats.Summary, len(nodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var fatal error
	sem := make(chan struct{}, metricsFanOut)
	for _, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			sum, err := m.summary(ctx, n)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				out[n.Name] = sum
			case apierrors.IsServiceUnavailable(err):
				fatal = err
			case !errors.Is(err, errNoAgent):
				klog.FromContext(ctx).V(2).Info("no metrics from the node's agent", "node", n.Name, "err", err)
			}
		}()
	}
	wg.Wait()
	return out, fatal
}

func (m *metricsSource) node(ctx context.Context, name string) (*corev1.Node, error) {
	obj, err := m.nodes.store().Get(genericapirequest.WithNamespace(ctx, ""), name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Node), nil
}

// selectors keeps only the list options that apply (labels, fields;
// the stores check the fields), read from the watch cache as usage is
// approximate anyway.
func selectors(opts *metainternalversion.ListOptions) *metainternalversion.ListOptions {
	out := &metainternalversion.ListOptions{ResourceVersion: "0"}
	if opts != nil {
		out.LabelSelector, out.FieldSelector = opts.LabelSelector, opts.FieldSelector
	}
	return out
}

// NodeMetricsREST serves metrics.k8s.io/v1beta1 nodes.
type NodeMetricsREST struct{ m *metricsSource }

var (
	_ rest.Getter               = &NodeMetricsREST{}
	_ rest.Lister               = &NodeMetricsREST{}
	_ rest.Scoper               = &NodeMetricsREST{}
	_ rest.SingularNameProvider = &NodeMetricsREST{}
)

func (r *NodeMetricsREST) New() runtime.Object     { return &metricsv1beta1.NodeMetrics{} }
func (r *NodeMetricsREST) NewList() runtime.Object { return &metricsv1beta1.NodeMetricsList{} }
func (r *NodeMetricsREST) Destroy()                {}
func (r *NodeMetricsREST) NamespaceScoped() bool   { return false }
func (r *NodeMetricsREST) GetSingularName() string { return "node" }

func (r *NodeMetricsREST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	notFound := apierrors.NewNotFound(metricsv1beta1.Resource("nodes"), name)
	node, err := r.m.node(ctx, name)
	if apierrors.IsNotFound(err) {
		return nil, notFound
	} else if err != nil {
		return nil, err
	}
	sums, err := r.m.summaries(ctx, []*corev1.Node{node})
	if err != nil {
		return nil, err
	}
	if sum := sums[name]; sum != nil {
		if nm, ok := nodeMetrics(node, sum, r.m.clock.Now()); ok {
			return nm, nil
		}
	}
	return nil, notFound
}

func (r *NodeMetricsREST) List(ctx context.Context, opts *metainternalversion.ListOptions) (runtime.Object, error) {
	obj, err := r.m.nodes.store().List(genericapirequest.WithNamespace(ctx, ""), selectors(opts))
	if err != nil {
		return nil, err
	}
	list := obj.(*corev1.NodeList)
	nodes := make([]*corev1.Node, len(list.Items))
	for i := range list.Items {
		nodes[i] = &list.Items[i]
	}
	sums, err := r.m.summaries(ctx, nodes)
	if err != nil {
		return nil, err
	}
	out := &metricsv1beta1.NodeMetricsList{Items: []metricsv1beta1.NodeMetrics{}}
	now := r.m.clock.Now()
	for _, n := range nodes {
		if sum := sums[n.Name]; sum != nil {
			if nm, ok := nodeMetrics(n, sum, now); ok {
				out.Items = append(out.Items, *nm)
			}
		}
	}
	return out, nil
}

func (r *NodeMetricsREST) ConvertToTable(_ context.Context, obj runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	return metricsTable(obj, func(o runtime.Object) (corev1.ResourceList, metav1.Duration, bool) {
		nm, ok := o.(*metricsv1beta1.NodeMetrics)
		if !ok {
			return nil, metav1.Duration{}, false
		}
		return nm.Usage, nm.Window, true
	})
}

// PodMetricsREST serves metrics.k8s.io/v1beta1 pods.
type PodMetricsREST struct{ m *metricsSource }

var (
	_ rest.Getter               = &PodMetricsREST{}
	_ rest.Lister               = &PodMetricsREST{}
	_ rest.Scoper               = &PodMetricsREST{}
	_ rest.SingularNameProvider = &PodMetricsREST{}
)

func (r *PodMetricsREST) New() runtime.Object     { return &metricsv1beta1.PodMetrics{} }
func (r *PodMetricsREST) NewList() runtime.Object { return &metricsv1beta1.PodMetricsList{} }
func (r *PodMetricsREST) Destroy()                {}
func (r *PodMetricsREST) NamespaceScoped() bool   { return true }
func (r *PodMetricsREST) GetSingularName() string { return "pod" }

func (r *PodMetricsREST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.m.pods.store().Get(ctx, name, &metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(metricsv1beta1.Resource("pods"), name)
	} else if err != nil {
		return nil, err
	}
	items, err := r.metrics(ctx, []*corev1.Pod{obj.(*corev1.Pod)})
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, apierrors.NewNotFound(metricsv1beta1.Resource("pods"), name)
	}
	return &items[0], nil
}

func (r *PodMetricsREST) List(ctx context.Context, opts *metainternalversion.ListOptions) (runtime.Object, error) {
	obj, err := r.m.pods.store().List(ctx, selectors(opts))
	if err != nil {
		return nil, err
	}
	list := obj.(*corev1.PodList)
	pods := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		pods[i] = &list.Items[i]
	}
	items, err := r.metrics(ctx, pods)
	if err != nil {
		return nil, err
	}
	return &metricsv1beta1.PodMetricsList{Items: items}, nil
}

// metrics reads the summaries of the pods' nodes and returns the metrics
// of those pods the summaries have complete figures for, in pods' order.
func (r *PodMetricsREST) metrics(ctx context.Context, pods []*corev1.Pod) ([]metricsv1beta1.PodMetrics, error) {
	var nodes []*corev1.Node
	seen := map[string]bool{}
	for _, p := range pods {
		name := p.Spec.NodeName
		if name == "" || seen[name] || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		seen[name] = true
		n, err := r.m.node(ctx, name)
		if apierrors.IsNotFound(err) {
			continue // the pod's node is gone; so are its metrics
		} else if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	sums, err := r.m.summaries(ctx, nodes)
	if err != nil {
		return nil, err
	}
	byUID := map[string]*stats.PodStats{}
	for _, sum := range sums {
		for i := range sum.Pods {
			byUID[sum.Pods[i].PodRef.UID] = &sum.Pods[i]
		}
	}
	items := []metricsv1beta1.PodMetrics{}
	now := r.m.clock.Now()
	for _, p := range pods {
		if ps := byUID[string(p.UID)]; ps != nil && sums[p.Spec.NodeName] != nil {
			if pm, ok := podMetrics(p, ps, now); ok {
				items = append(items, *pm)
			}
		}
	}
	return items, nil
}

func (r *PodMetricsREST) ConvertToTable(_ context.Context, obj runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	return metricsTable(obj, func(o runtime.Object) (corev1.ResourceList, metav1.Duration, bool) {
		pm, ok := o.(*metricsv1beta1.PodMetrics)
		if !ok {
			return nil, metav1.Duration{}, false
		}
		total := corev1.ResourceList{}
		for _, c := range pm.Containers {
			for name, q := range c.Usage {
				sum := total[name]
				sum.Add(q)
				total[name] = sum
			}
		}
		return total, pm.Window, true
	})
}

// metricsTable is the table kubectl get shows, with metrics-server's
// columns: name, cpu, memory, window.
func metricsTable(obj runtime.Object, usage func(runtime.Object) (corev1.ResourceList, metav1.Duration, bool)) (*metav1.Table, error) {
	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: "Name of the resource"},
		{Name: "CPU", Type: "string", Description: "CPU usage"},
		{Name: "Memory", Type: "string", Description: "Memory usage (working set)"},
		{Name: "Window", Type: "string", Description: "Interval the CPU usage is measured over"},
	}}
	var objs []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if objs, err = meta.ExtractList(obj); err != nil {
			return nil, err
		}
	} else {
		objs = []runtime.Object{obj}
	}
	for _, o := range objs {
		u, window, ok := usage(o)
		if !ok {
			return nil, fmt.Errorf("unexpected object %T", o)
		}
		m, _ := meta.Accessor(o)
		cpu, mem := u[corev1.ResourceCPU], u[corev1.ResourceMemory]
		t.Rows = append(t.Rows, metav1.TableRow{
			Cells:  []interface{}{m.GetName(), fmt.Sprintf("%dm", cpu.MilliValue()), fmt.Sprintf("%dMi", mem.Value()/(1<<20)), window.Duration.String()},
			Object: runtime.RawExtension{Object: o},
		})
	}
	return t, nil
}
