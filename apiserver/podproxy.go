package apiserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	upgradeproxy "k8s.io/apimachinery/pkg/util/proxy"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic/registry"
	genericrest "k8s.io/apiserver/pkg/registry/generic/rest"
	"k8s.io/apiserver/pkg/registry/rest"
	translator "k8s.io/apiserver/pkg/util/proxy"
)

// This file serves pods/log, pods/exec, pods/attach and pods/portforward
// by calling the node agent's API (agent/server) on the pod's node, as
// kube-apiserver calls kubelet.
//
// SPDY upgrades are proxied to the agent unchanged. kubectl's WebSocket
// streams are translated to SPDY towards the agent, as kube-apiserver does
// with its TranslateStreamCloseWebsocketRequests and PortForwardWebsockets
// features (on by default): WebSocket v5.channel.k8s.io exec and attach
// sessions are run as SPDY sessions by the API server, and port-forward's
// SPDY-in-WebSocket tunnel is unwrapped into a SPDY connection.

// agentDialer reaches node agents with the API server's client certificate.
type agentDialer struct {
	nodes     *lazyStore
	tlsConfig *tls.Config
	transport *http.Transport
}

// newAgentDialer loads the client certificate; without one every call
// to an agent fails with 503.
func newAgentDialer(nodes *lazyStore, certFile, keyFile string) (*agentDialer, error) {
	d := &agentDialer{nodes: nodes}
	if certFile == "" {
		return d, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("agent client certificate: %w", err)
	}
	// Agents serve self-signed certificates; kube-apiserver does not
	// verify kubelets' by default either.
	d.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	d.transport = &http.Transport{
		TLSClientConfig:     d.tlsConfig,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 10,
		IdleConnTimeout:     90 * time.Second,
	}
	return d, nil
}

// location is the URL of path on the agent of nodeName.
func (d *agentDialer) location(ctx context.Context, nodeName, path string, query url.Values) (*url.URL, error) {
	if d.tlsConfig == nil {
		return nil, apierrors.NewServiceUnavailable("the API server has no client certificate for node agents")
	}
	obj, err := d.nodes.store().Get(genericapirequest.WithNamespace(ctx, ""), nodeName, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	node := obj.(*corev1.Node)
	host := nodeAddress(node)
	if host == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("node %s has no address", nodeName))
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port <= 0 {
		port = 10250
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(int(port))), Path: path, RawQuery: query.Encode()}, nil
}

// nodeAddress prefers the internal IP, then the external IP, then the
// host name.
func nodeAddress(node *corev1.Node) string {
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalDNS} {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address
			}
		}
	}
	return ""
}

// podContainer finds the pod and checks the container it names; an empty
// name is allowed when the pod has one container.
func podContainer(ctx context.Context, pods *registry.Store, name, container string) (*corev1.Pod, string, error) {
	obj, err := pods.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, "", err
	}
	pod := obj.(*corev1.Pod)
	var names, initNames, ephemeral []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.InitContainers {
		initNames = append(initNames, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		ephemeral = append(ephemeral, c.Name)
	}
	if container == "" {
		if len(names) == 1 {
			return pod, names[0], nil
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", name, names)
		if len(initNames) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: %v", initNames)
		}
		if len(ephemeral) > 0 {
			msg += fmt.Sprintf(" or one of the ephemeral containers: %v", ephemeral)
		}
		return nil, "", apierrors.NewBadRequest(msg)
	}
	for _, list := range [][]string{names, initNames, ephemeral} {
		for _, n := range list {
			if n == container {
				return pod, container, nil
			}
		}
	}
	return nil, "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, name))
}

func requireNode(pod *corev1.Pod) error {
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	return nil
}

// LogREST serves pods/log: the container's log streamed from its node.
type LogREST struct {
	pods   *registry.Store
	agents *agentDialer
}

var (
	_ rest.GetterWithOptions = &LogREST{}
	_ rest.StorageMetadata   = &LogREST{}
)

func (r *LogREST) New() runtime.Object               { return &corev1.Pod{} }
func (r *LogREST) Destroy()                          {}
func (r *LogREST) ProducesMIMETypes(string) []string { return []string{"text/plain"} }
func (r *LogREST) ProducesObject(string) interface{} { return "" }
func (r *LogREST) NewGetOptions() (runtime.Object, bool, string) {
	return &corev1.PodLogOptions{}, false, ""
}

func (r *LogREST) Get(ctx context.Context, name string, opts runtime.Object) (runtime.Object, error) {
	o, ok := opts.(*corev1.PodLogOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %T", opts))
	}
	if err := validateLogOptions(o); err != nil {
		return nil, err
	}
	pod, container, err := podContainer(ctx, r.pods, name, o.Container)
	if err != nil {
		return nil, err
	}
	if err := requireNode(pod); err != nil {
		return nil, err
	}
	if err := neverRanError(pod, container, o.Previous); err != nil {
		return nil, err
	}
	q := url.Values{}
	setTrue := func(k string, v bool) {
		if v {
			q.Set(k, "true")
		}
	}
	setTrue("follow", o.Follow)
	setTrue("previous", o.Previous)
	setTrue("timestamps", o.Timestamps)
	if o.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*o.SinceSeconds, 10))
	}
	if o.SinceTime != nil {
		q.Set("sinceTime", o.SinceTime.UTC().Format(time.RFC3339))
	}
	if o.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*o.TailLines, 10))
	}
	if o.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*o.LimitBytes, 10))
	}
	if o.Stream != nil {
		q.Set("stream", *o.Stream)
	}
	loc, err := r.agents.location(ctx, pod.Spec.NodeName, "/containerLogs/"+pod.Namespace+"/"+pod.Name+"/"+container, q)
	if err != nil {
		return nil, err
	}
	return &genericrest.LocationStreamer{
		Location:        loc,
		Transport:       r.agents.transport,
		ContentType:     "text/plain",
		Flush:           o.Follow,
		ResponseChecker: genericrest.NewGenericHttpResponseChecker(corev1.Resource("pods/log"), name),
		RedirectChecker: genericrest.PreventRedirects,
	}, nil
}

// neverRanError is kubelet's answer for the logs of a container that has
// never run because it cannot start (image pull failures, bad config): the
// agent has no attempt and knows only the runtime's side, while the pod's
// status holds the reason. Containers still being created, or that ran
// before, are left to the agent.
func neverRanError(pod *corev1.Pod, container string, previous bool) error {
	if previous {
		return nil
	}
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if cs.Name != container {
			continue
		}
		w := cs.State.Waiting
		if w == nil || cs.ContainerID != "" || cs.LastTerminationState.Terminated != nil ||
			w.Reason == "" || w.Reason == "ContainerCreating" || w.Reason == "PodInitializing" {
			return nil
		}
		what := w.Reason
		switch w.Reason {
		case "ErrImagePull":
			what = "image can't be pulled"
		case "ImagePullBackOff":
			what = "trying and failing to pull image"
		}
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", container, pod.Name, what))
	}
	return nil
}

func validateLogOptions(o *corev1.PodLogOptions) error {
	var msgs []string
	if o.TailLines != nil && *o.TailLines < 0 {
		msgs = append(msgs, "tailLines: Invalid value: must be greater than or equal to 0")
	}
	if o.LimitBytes != nil && *o.LimitBytes < 1 {
		msgs = append(msgs, "limitBytes: Invalid value: must be greater than 0")
	}
	if o.SinceSeconds != nil && *o.SinceSeconds < 1 {
		msgs = append(msgs, "sinceSeconds: Invalid value: must be greater than 0")
	}
	if o.SinceSeconds != nil && o.SinceTime != nil {
		msgs = append(msgs, "at most one of `sinceTime` or `sinceSeconds` may be specified")
	}
	if o.Stream != nil && *o.Stream != corev1.LogStreamStdout && *o.Stream != corev1.LogStreamStderr && *o.Stream != corev1.LogStreamAll {
		msgs = append(msgs, fmt.Sprintf("stream: Unsupported value: %q", *o.Stream))
	}
	if o.Stream != nil && *o.Stream != corev1.LogStreamAll && o.TailLines != nil {
		msgs = append(msgs, "tailLines: Forbidden: `tailLines` and specific `stream` are mutually exclusive for now")
	}
	if len(msgs) > 0 {
		return apierrors.NewBadRequest(strings.Join(msgs, "; "))
	}
	return nil
}

// streamREST is the shared part of exec, attach and portforward: a
// Connecter answering GET and POST with an upgrade proxied to the agent.
type streamREST struct {
	pods   *registry.Store
	agents *agentDialer
}

func (r *streamREST) New() runtime.Object      { return &corev1.Pod{} }
func (r *streamREST) Destroy()                 {}
func (r *streamREST) ConnectMethods() []string { return []string{"GET", "POST"} }

// upgradeHandler proxies an upgrade request to loc on the agent and
// refuses requests that do not ask for one.
func (r *streamREST) upgradeHandler(loc *url.URL, responder rest.Responder) http.Handler {
	h := upgradeproxy.NewUpgradeAwareHandler(loc, r.agents.transport, false, true, upgradeproxy.NewErrorResponder(responder))
	h.UseLocationHost = true
	h.RejectForwardingRedirects = true
	return h
}

// remoteCommandHandler serves exec and attach: SPDY is proxied, WebSocket
// v5 is translated to SPDY towards the agent.
func (r *streamREST) remoteCommandHandler(loc *url.URL, stdin, stdout, stderr, tty bool, responder rest.Responder) http.Handler {
	streams := translator.Options{Stdin: stdin, Stdout: stdout, Stderr: stderr, Tty: tty}
	return translator.NewTranslatingHandler(r.upgradeHandler(loc, responder),
		translator.NewStreamTranslatorHandler(loc, r.agents.transport, 0, streams),
		wsstream.IsWebSocketRequestWithStreamCloseProtocol)
}

func streamQuery(stdin, stdout, stderr, tty bool) url.Values {
	q := url.Values{}
	// The agent's (and kubelet's) spelling of the stream flags.
	for k, v := range map[string]bool{corev1.ExecStdinParam: stdin, corev1.ExecStdoutParam: stdout, corev1.ExecStderrParam: stderr, corev1.ExecTTYParam: tty} {
		if v {
			q.Set(k, "1")
		}
	}
	return q
}

func (r *streamREST) runningPod(ctx context.Context, name, container, verb string) (*corev1.Pod, string, error) {
	pod, container, err := podContainer(ctx, r.pods, name, container)
	if err != nil {
		return nil, "", err
	}
	if err := requireNode(pod); err != nil {
		return nil, "", err
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil, "", apierrors.NewBadRequest(fmt.Sprintf("cannot %s a container in a completed pod; current phase is %s", verb, pod.Status.Phase))
	}
	return pod, container, nil
}

func requireStreams(stdin, stdout, stderr bool) error {
	if !stdin && !stdout && !stderr {
		return apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	return nil
}

// ExecREST serves pods/exec.
type ExecREST struct{ streamREST }

func (r *ExecREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodExecOptions{}, false, ""
}

func (r *ExecREST) Connect(ctx context.Context, name string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	o, ok := opts.(*corev1.PodExecOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %T", opts))
	}
	if len(o.Command) == 0 {
		return nil, apierrors.NewBadRequest("you must specify at least one command for the container")
	}
	if err := requireStreams(o.Stdin, o.Stdout, o.Stderr); err != nil {
		return nil, err
	}
	pod, container, err := r.runningPod(ctx, name, o.Container, "exec into")
	if err != nil {
		return nil, err
	}
	q := streamQuery(o.Stdin, o.Stdout, o.Stderr, o.TTY)
	q[corev1.ExecCommandParam] = o.Command
	loc, err := r.agents.location(ctx, pod.Spec.NodeName, "/exec/"+pod.Namespace+"/"+pod.Name+"/"+container, q)
	if err != nil {
		return nil, err
	}
	return r.remoteCommandHandler(loc, o.Stdin, o.Stdout, o.Stderr, o.TTY, responder), nil
}

// AttachREST serves pods/attach.
type AttachREST struct{ streamREST }

func (r *AttachREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodAttachOptions{}, false, ""
}

func (r *AttachREST) Connect(ctx context.Context, name string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	o, ok := opts.(*corev1.PodAttachOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %T", opts))
	}
	if err := requireStreams(o.Stdin, o.Stdout, o.Stderr); err != nil {
		return nil, err
	}
	pod, container, err := r.runningPod(ctx, name, o.Container, "attach to")
	if err != nil {
		return nil, err
	}
	loc, err := r.agents.location(ctx, pod.Spec.NodeName, "/attach/"+pod.Namespace+"/"+pod.Name+"/"+container,
		streamQuery(o.Stdin, o.Stdout, o.Stderr, o.TTY))
	if err != nil {
		return nil, err
	}
	return r.remoteCommandHandler(loc, o.Stdin, o.Stdout, o.Stderr, o.TTY, responder), nil
}

// PortForwardREST serves pods/portforward.
type PortForwardREST struct{ streamREST }

func (r *PortForwardREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodPortForwardOptions{}, false, ""
}

func (r *PortForwardREST) Connect(ctx context.Context, name string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	o, ok := opts.(*corev1.PodPortForwardOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %T", opts))
	}
	obj, err := r.pods.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	pod := obj.(*corev1.Pod)
	if err := requireNode(pod); err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range o.Ports {
		q.Add("port", strconv.Itoa(int(p)))
	}
	loc, err := r.agents.location(ctx, pod.Spec.NodeName, "/portForward/"+pod.Namespace+"/"+pod.Name, q)
	if err != nil {
		return nil, err
	}
	// The tunnel carries SPDY frames in WebSocket messages: unwrapped,
	// they go through the same proxy as a SPDY upgrade.
	proxy := r.upgradeHandler(loc, responder)
	return translator.NewTranslatingHandler(proxy, translator.NewTunnelingHandler(proxy),
		wsstream.IsWebSocketRequestWithTunnelingProtocol), nil
}

// podParameterCodec decodes the query options of the pod subresources
// (upstream generates url.Values conversions for them; corral's scheme has
// none) and leaves every other type to the wrapped codec.
type podParameterCodec struct {
	runtime.ParameterCodec
}

func (c podParameterCodec) DecodeParameters(p url.Values, from schema.GroupVersion, into runtime.Object) error {
	d := queryDecoder{p: p}
	switch o := into.(type) {
	case *corev1.PodLogOptions:
		o.Container = p.Get("container")
		o.Follow = d.bool("follow")
		o.Previous = d.bool("previous")
		o.Timestamps = d.bool("timestamps")
		o.InsecureSkipTLSVerifyBackend = d.bool("insecureSkipTLSVerifyBackend")
		o.SinceSeconds = d.int("sinceSeconds")
		o.TailLines = d.int("tailLines")
		o.LimitBytes = d.int("limitBytes")
		if v := p.Get("sinceTime"); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				d.fail("sinceTime", v)
			} else {
				o.SinceTime = &metav1.Time{Time: t}
			}
		}
		if v, ok := p["stream"]; ok && len(v) > 0 {
			o.Stream = &v[0]
		}
	case *corev1.PodExecOptions:
		o.Container = p.Get("container")
		o.Stdin, o.Stdout, o.Stderr, o.TTY = d.bool("stdin"), d.bool("stdout"), d.bool("stderr"), d.bool("tty")
		o.Command = p["command"]
	case *corev1.PodAttachOptions:
		o.Container = p.Get("container")
		o.Stdin, o.Stdout, o.Stderr, o.TTY = d.bool("stdin"), d.bool("stdout"), d.bool("stderr"), d.bool("tty")
	case *corev1.PodPortForwardOptions:
		for _, v := range p["ports"] {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 || n > 65535 {
				d.fail("ports", v)
				continue
			}
			o.Ports = append(o.Ports, int32(n))
		}
	default:
		return c.ParameterCodec.DecodeParameters(p, from, into)
	}
	return d.err
}

type queryDecoder struct {
	p   url.Values
	err error
}

// bool follows upstream's query conversion: present and not "0" or
// "false" means true.
func (d *queryDecoder) bool(name string) bool {
	v, ok := d.p[name]
	if !ok || len(v) == 0 {
		return false
	}
	return v[0] != "0" && !strings.EqualFold(v[0], "false")
}

func (d *queryDecoder) int(name string) *int64 {
	v := d.p.Get(name)
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		d.fail(name, v)
		return nil
	}
	return &n
}

func (d *queryDecoder) fail(name, value string) {
	if d.err == nil {
		d.err = apierrors.NewBadRequest(fmt.Sprintf("invalid value %q for query parameter %s", value, name))
	}
}

// agentCertFiles name the client certificate the API server presents to
// node agents (Config.AgentClientCertFile and KeyFile).
type agentCertFiles struct{ cert, key string }
