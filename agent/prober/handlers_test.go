package prober

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// httpBackend serves /ok (200), /fail (500), /same (302 to /ok),
// /other (302 to another loopback host) and remembers request headers.
type httpBackend struct {
	*httptest.Server
	mu      sync.Mutex
	headers http.Header
	host    string
}

func newHTTPBackend(t *testing.T, tlsOn bool) *httpBackend {
	b := &httpBackend{}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.headers, b.host = r.Header.Clone(), r.Host
		b.mu.Unlock()
		_, _ = w.Write([]byte("fine"))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "secret body", http.StatusInternalServerError)
	})
	mux.HandleFunc("/same", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/other", func(w http.ResponseWriter, r *http.Request) {
		// 127.0.0.2 is loopback too, but another host name: not followed.
		_, port, _ := net.SplitHostPort(r.Host)
		http.Redirect(w, r, "http://127.0.0.2:"+port+"/ok", http.StatusFound)
	})
	if tlsOn {
		b.Server = httptest.NewTLSServer(mux)
	} else {
		b.Server = httptest.NewServer(mux)
	}
	t.Cleanup(b.Close)
	return b
}

func (b *httpBackend) port(t *testing.T) int {
	u, err := url.Parse(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}

func TestHTTPProbe(t *testing.T) {
	m := New(Options{})
	t.Cleanup(m.Stop)
	b := newHTTPBackend(t, false)
	port := b.port(t)
	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}
	get := func(path string, p intstr.IntOrString) *corev1.HTTPGetAction {
		return &corev1.HTTPGetAction{Path: path, Port: p}
	}
	for _, tc := range []struct {
		name   string
		action *corev1.HTTPGetAction
		want   probeResult
		msg    string
	}{
		{"200", get("/ok", intstr.FromInt32(int32(port))), probeSuccess, "fine"},
		{"named port", get("/ok", intstr.FromString("web")), probeSuccess, "fine"},
		{"500", get("/fail", intstr.FromInt32(int32(port))), probeFailure, "HTTP probe failed with statuscode: 500"},
		{"404", get("/missing", intstr.FromInt32(int32(port))), probeFailure, "HTTP probe failed with statuscode: 404"},
		{"redirect same host", get("/same", intstr.FromInt32(int32(port))), probeSuccess, "fine"},
		{"redirect other host", get("/other", intstr.FromInt32(int32(port))), probeWarning, "Probe terminated redirects, Response body: "},
	} {
		res, msg, err := m.httpProbe(tc.action, c, "127.0.0.1", 5*time.Second)
		if err != nil || res != tc.want || !strings.HasPrefix(msg, tc.msg) {
			t.Errorf("%s: got %v %q %v, want %v %q", tc.name, res, msg, err, tc.want, tc.msg)
		}
	}

	// Headers: kubelet's defaults, the probe's own, Host overriding.
	a := get("/ok", intstr.FromInt32(int32(port)))
	a.HTTPHeaders = []corev1.HTTPHeader{{Name: "x-probe", Value: "1"}, {Name: "Host", Value: "app.example"}}
	if res, _, err := m.httpProbe(a, c, "127.0.0.1", 5*time.Second); res != probeSuccess || err != nil {
		t.Fatalf("probe with headers: %v %v", res, err)
	}
	b.mu.Lock()
	h, host := b.headers, b.host
	b.mu.Unlock()
	if h.Get("User-Agent") != "kube-probe/1.37" || h.Get("Accept") != "*/*" || h.Get("X-Probe") != "1" || host != "app.example" {
		t.Fatalf("headers %v, host %q", h, host)
	}

	// Nothing listening: a failure, not an error.
	closedPort := freePort(t)
	res, msg, err := m.httpProbe(get("/", intstr.FromInt32(int32(closedPort))), c, "127.0.0.1", 5*time.Second)
	if res != probeFailure || err != nil || !strings.Contains(msg, "connection refused") {
		t.Fatalf("closed port: %v %q %v", res, msg, err)
	}
	// Bad configuration: an error.
	if _, _, err := m.httpProbe(get("/", intstr.FromString("nope")), c, "127.0.0.1", time.Second); err == nil {
		t.Fatal("unknown port name accepted")
	}
	bad := get("/", intstr.FromInt32(int32(port)))
	bad.Scheme = "FTP"
	if _, _, err := m.httpProbe(bad, c, "127.0.0.1", time.Second); err == nil {
		t.Fatal("scheme FTP accepted")
	}
}

func TestHTTPSProbeSkipsVerification(t *testing.T) {
	m := New(Options{})
	t.Cleanup(m.Stop)
	b := newHTTPBackend(t, true)
	a := &corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(b.port(t))), Scheme: corev1.URISchemeHTTPS}
	if res, msg, err := m.httpProbe(a, &corev1.Container{}, "127.0.0.1", 5*time.Second); res != probeSuccess || err != nil {
		t.Fatalf("https probe: %v %q %v", res, msg, err)
	}
}

func TestTCPProbe(t *testing.T) {
	m := New(Options{})
	t.Cleanup(m.Stop)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	if res, msg, err := m.tcpProbe(l.Addr().String(), 5*time.Second); res != probeSuccess || err != nil {
		t.Fatalf("open port: %v %q %v", res, msg, err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	if res, msg, err := m.tcpProbe(addr, 5*time.Second); res != probeFailure || err != nil || !strings.Contains(msg, "connection refused") {
		t.Fatalf("closed port: %v %q %v", res, msg, err)
	}
}

func TestGRPCProbe(t *testing.T) {
	m := New(Options{})
	t.Cleanup(m.Stop)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	port := l.Addr().(*net.TCPAddr).Port

	// A server without the health service.
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bare := grpc.NewServer()
	go func() { _ = bare.Serve(l2) }()
	t.Cleanup(bare.Stop)

	for _, tc := range []struct {
		name, service string
		port          int
		want          probeResult
		msg           string
	}{
		{"server", "", port, probeSuccess, "service is serving"},
		{"serving", "up", port, probeSuccess, "service is serving"},
		{"not serving", "down", port, probeFailure, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", "nope", port, probeFailure, "error: health rpc probe failed: "},
		{"no health service", "", l2.Addr().(*net.TCPAddr).Port, probeFailure, "this server does not implement the grpc health protocol"},
		{"closed port", "", freePort(t), probeFailure, "error: failed to connect service at"},
	} {
		res, msg, err := m.grpcProbe("127.0.0.1", tc.port, tc.service, 5*time.Second)
		if err != nil || res != tc.want || !strings.HasPrefix(msg, tc.msg) {
			t.Errorf("%s: got %v %q %v, want %v %q", tc.name, res, msg, err, tc.want, tc.msg)
		}
	}
}

// TestManagerHTTPAndTCPProbes runs network probes through workers against
// the pod IP (loopback here), with kubelet's event messages.
func TestManagerHTTPAndTCPProbes(t *testing.T) {
	e := newEnv(t)
	b := newHTTPBackend(t, false)
	port := intstr.FromInt32(int32(b.port(t)))
	probe := func(h corev1.ProbeHandler) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: h, PeriodSeconds: 10, TimeoutSeconds: 5, SuccessThreshold: 1, FailureThreshold: 1}
	}
	pod := testPod(
		corev1.Container{Name: "web", ReadinessProbe: probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/fail", Port: port}})},
		corev1.Container{Name: "tcp", ReadinessProbe: probe(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: port}})},
		corev1.Container{Name: "moved", ReadinessProbe: probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/other", Port: port}})})
	e.m.Update(pod, running("web", "c://w", "tcp", "c://t", "moved", "c://m"))
	e.waitRounds("web/Readiness/c://w", 1)
	e.waitRounds("tcp/Readiness/c://t", 1)
	e.waitRounds("moved/Readiness/c://m", 1)
	if e.m.Ready("uid-1", "web", "c://w") || !e.m.Ready("uid-1", "tcp", "c://t") || !e.m.Ready("uid-1", "moved", "c://m") {
		t.Fatal("readiness: want web unready, tcp and moved ready")
	}
	want := map[string]bool{
		"web Warning Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 500": true,
		"moved Warning ProbeWarning: Readiness probe warning: Probe terminated redirects, Response body: <a href=\"http://127.0.0.2:" +
			port.String() + "/ok\">Found</a>.\n\n": true,
	}
	ev := e.eventList()
	if len(ev) != 2 || !want[ev[0]] || !want[ev[1]] {
		t.Fatalf("events %q", ev)
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return p
}
