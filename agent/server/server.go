package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"corral/agent/runtime"
)

// DefaultPort is kubelet's port, which the Node's
// status.daemonEndpoints.kubeletEndpoint announces.
const DefaultPort = 10250

// PodLookup finds the pods the node runs.
type PodLookup interface {
	// LookupPod returns what the runtime knows of a pod (UID, container
	// IDs and log paths of every attempt), or nil when the node does not
	// run it.
	LookupPod(ctx context.Context, namespace, name string) (*runtime.PodStatus, error)
}

// PodLookupFunc adapts a function to PodLookup.
type PodLookupFunc func(ctx context.Context, namespace, name string) (*runtime.PodStatus, error)

func (f PodLookupFunc) LookupPod(ctx context.Context, namespace, name string) (*runtime.PodStatus, error) {
	return f(ctx, namespace, name)
}

// Server is the agent's HTTPS API.
type Server struct {
	Pods     PodLookup
	Streamer runtime.Streamer
	// ClientCA verifies callers; only /healthz is open to others.
	ClientCA *x509.CertPool
	// TLSCert serves HTTPS; nil generates a self-signed one at start
	// (the API server does not verify agents' certificates).
	TLSCert *tls.Certificate
	// BindAddress and Port say where to listen (default all, 10250).
	BindAddress net.IP
	Port        int
	// Clock paces log following (default the real clock).
	Clock clock.Clock
	// LogPollInterval is how often followed logs are checked (default 100ms).
	LogPollInterval time.Duration
	// Summary serves GET /stats/summary and Metrics GET /metrics
	// (agent/stats); nil leaves the route out.
	Summary, Metrics http.Handler
}

// Run listens on BindAddress:Port and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	port := s.Port
	if port == 0 {
		port = DefaultPort
	}
	addr := ""
	if s.BindAddress != nil {
		addr = s.BindAddress.String()
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("agent server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves HTTPS on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	cfg, err := s.tlsConfig(ln.Addr())
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
		srv.Close()
	}()
	err = srv.Serve(tls.NewListener(ln, cfg))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) tlsConfig(addr net.Addr) (*tls.Config, error) {
	if s.ClientCA == nil {
		return nil, errors.New("agent server: no client CA")
	}
	cert := s.TLSCert
	if cert == nil {
		host, _ := os.Hostname()
		var ips []net.IP
		if tcp, ok := addr.(*net.TCPAddr); ok && !tcp.IP.IsUnspecified() {
			ips = append(ips, tcp.IP)
		}
		certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(host, ips, nil)
		if err != nil {
			return nil, fmt.Errorf("agent server: self-signed certificate: %w", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		cert = &pair
	}
	return &tls.Config{
		Certificates: []tls.Certificate{*cert},
		// Verified when given; handlers other than /healthz demand one.
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  s.ClientCA,
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
	}, nil
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	mux.Handle("GET /containerLogs/{namespace}/{pod}/{container}", s.authenticated(s.serveLogs))
	mux.Handle("/exec/{namespace}/{pod}/{container}", s.authenticated(s.serveExec))
	mux.Handle("/attach/{namespace}/{pod}/{container}", s.authenticated(s.serveAttach))
	mux.Handle("/portForward/{namespace}/{pod}", s.authenticated(s.servePortForward))
	if s.Summary != nil {
		mux.Handle("GET /stats/summary", s.authenticated(s.Summary.ServeHTTP))
	}
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.authenticated(s.Metrics.ServeHTTP))
	}
	return mux
}

// authenticated lets through requests whose client certificate the TLS
// handshake verified against ClientCA.
func (s *Server) authenticated(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "Unauthorized: a client certificate of the cluster CA is required", http.StatusUnauthorized)
			return
		}
		klog.V(4).InfoS("agent API", "method", r.Method, "path", r.URL.Path, "user", r.TLS.VerifiedChains[0][0].Subject.CommonName)
		next(w, r)
	})
}

// lookup finds the pod or answers 404 (false).
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (*runtime.PodStatus, bool) {
	ns, name := r.PathValue("namespace"), r.PathValue("pod")
	st, err := s.Pods.LookupPod(r.Context(), ns, name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil, false
	}
	if st == nil {
		http.Error(w, fmt.Sprintf("pod %q does not exist", ns+"/"+name), http.StatusNotFound)
		return nil, false
	}
	return st, true
}
