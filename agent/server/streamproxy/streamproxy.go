// Package streamproxy forwards HTTP upgrade requests (SPDY and WebSocket
// streams of exec, attach and port-forward) to a backend and splices the
// two connections once the backend switches protocols. The agent uses it
// towards the runtime's CRI streaming server, the API server towards the
// agents.
//
// k8s.io/apimachinery's UpgradeAwareHandler does this job upstream, but it
// needs modules corral's go.mod does not carry (github.com/mxk/go-flowrate);
// this is the small part of it corral needs: no redirects, no rate limits.
package streamproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/httpstream"
)

// Handler proxies one upgrade request to Target.
type Handler struct {
	// Target is the backend URL, path and query included (the request's
	// own path and query are not used).
	Target *url.URL
	// TLSConfig is used for https targets.
	TLSConfig *tls.Config
	// DialTimeout bounds connecting and the backend's answer (default 30s).
	DialTimeout time.Duration
}

// headers that belong to the client's connection to us, or to its
// identity towards us, and must not reach the backend.
var dropHeaders = []string{"Authorization", "Proxy-Authorization", "Impersonate-User", "Impersonate-Group", "Impersonate-Uid"}

func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !httpstream.IsUpgradeRequest(req) {
		http.Error(w, "this endpoint needs an upgrade request (SPDY or WebSocket)", http.StatusBadRequest)
		return
	}
	timeout := h.DialTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	backend, err := h.dial(req.Context(), timeout)
	if err != nil {
		http.Error(w, fmt.Sprintf("error dialing backend: %v", err), http.StatusBadGateway)
		return
	}
	defer backend.Close()

	out := &http.Request{
		Method:     req.Method,
		URL:        &url.URL{Path: h.Target.Path, RawPath: h.Target.RawPath, RawQuery: h.Target.RawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     req.Header.Clone(),
		Host:       h.Target.Host,
	}
	if out.URL.Path == "" {
		out.URL.Path = "/"
	}
	for _, name := range dropHeaders {
		out.Header.Del(name)
	}
	for name := range out.Header {
		if strings.HasPrefix(name, "Impersonate-Extra-") {
			out.Header.Del(name)
		}
	}
	backend.SetDeadline(time.Now().Add(timeout))
	if err := out.Write(backend); err != nil {
		http.Error(w, fmt.Sprintf("error sending request to backend: %v", err), http.StatusBadGateway)
		return
	}
	br := bufio.NewReader(backend)
	resp, err := http.ReadResponse(br, out)
	if err != nil {
		http.Error(w, fmt.Sprintf("error reading backend response: %v", err), http.StatusBadGateway)
		return
	}
	backend.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The backend refused (bad options, unknown container): pass its
		// answer on, so that clients see its reason and may fall back.
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, io.LimitReader(resp.Body, 1<<20))
		return
	}

	client, clientBuf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, fmt.Sprintf("cannot take over the connection: %v", err), http.StatusInternalServerError)
		return
	}
	defer client.Close()
	client.SetDeadline(time.Time{})
	if err := resp.Write(client); err != nil {
		return
	}
	splice(client, clientBuf.Reader, backend, br)
}

func (h *Handler) dial(ctx context.Context, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	host := h.Target.Host
	switch h.Target.Scheme {
	case "http", "ws":
		if h.Target.Port() == "" {
			host = net.JoinHostPort(h.Target.Hostname(), "80")
		}
		return d.DialContext(ctx, "tcp", host)
	case "https", "wss":
		if h.Target.Port() == "" {
			host = net.JoinHostPort(h.Target.Hostname(), "443")
		}
		cfg := &tls.Config{}
		if h.TLSConfig != nil {
			cfg = h.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = h.Target.Hostname()
		}
		// Upgrades exist only in HTTP/1.1.
		cfg.NextProtos = []string{"http/1.1"}
		td := &tls.Dialer{NetDialer: d, Config: cfg}
		return td.DialContext(ctx, "tcp", host)
	}
	return nil, fmt.Errorf("unsupported scheme %q in %s", h.Target.Scheme, h.Target)
}

// closeWriter is implemented by TCP and TLS connections.
type closeWriter interface{ CloseWrite() error }

// splice copies both ways. The client ending its side is passed on as a
// half-close where the connection allows it (the backend may still
// answer); the backend ending its side ends the session.
func splice(client net.Conn, fromClient io.Reader, backend net.Conn, fromBackend io.Reader) {
	up := make(chan struct{})
	go func() {
		defer close(up)
		_, err := io.Copy(backend, fromClient)
		if cw, ok := backend.(closeWriter); ok && err == nil {
			cw.CloseWrite()
			return
		}
		backend.Close()
	}()
	io.Copy(client, fromBackend)
	client.Close()
	backend.Close()
	<-up
}
