package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// newTransport is kubelet's probe transport: no proxy, no connection
// reuse, no compression, and TLS without verification (probes check the
// application, not its certificate).
func newTransport(dial func(ctx context.Context, network, address string) (net.Conn, error)) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         dial,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as kubelet
		TLSHandshakeTimeout: 10 * time.Second,
		DisableKeepAlives:   true,
		DisableCompression:  true,
	}
}

// httpProbe GETs the action's URL: 200–399 is success; a redirect is
// followed only to the same host, another host's redirect is a warning.
func (m *Manager) httpProbe(a *corev1.HTTPGetAction, c *corev1.Container, podIP string, timeout time.Duration) (probeResult, string, error) {
	req, err := httpRequest(m.ctx, a, c, podIP)
	if err != nil {
		return probeFailure, "", err
	}
	client := &http.Client{Transport: m.transport, Timeout: timeout, CheckRedirect: sameHostRedirects}
	res, err := client.Do(req)
	if err != nil {
		return probeFailure, err.Error(), nil // refused, reset, timed out: all failures
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxOutput))
	if err != nil {
		return probeFailure, "", fmt.Errorf("reading the response of %s: %w", req.URL, err)
	}
	switch {
	case res.StatusCode >= http.StatusMultipleChoices && res.StatusCode < http.StatusBadRequest:
		return probeWarning, "Probe terminated redirects, Response body: " + string(body), nil
	case res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusBadRequest:
		return probeSuccess, string(body), nil
	}
	// The body stays out of the message: it is user-facing (events).
	return probeFailure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
}

// httpRequest builds the probe request: host defaults to the pod IP, the
// port may name a container port, httpHeaders are added (a Host header
// sets the request's host), User-Agent and Accept get kubelet's defaults.
func httpRequest(ctx context.Context, a *corev1.HTTPGetAction, c *corev1.Container, podIP string) (*http.Request, error) {
	scheme := strings.ToLower(string(a.Scheme))
	switch scheme {
	case "":
		scheme = "http"
	case "http", "https":
	default:
		return nil, fmt.Errorf("unsupported scheme %q", a.Scheme)
	}
	host := a.Host
	if host == "" {
		host = podIP
	}
	if host == "" {
		return nil, errors.New("the pod has no IP yet")
	}
	port, err := resolvePort(a.Port, c)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(a.Path)
	if err != nil {
		u = &url.URL{Path: a.Path}
	}
	u.Scheme, u.Host = scheme, net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	headers := http.Header{}
	for _, h := range a.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", userAgent)
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		headers.Del("Accept") // set empty on purpose: send none
	}
	req.Header = headers
	req.Host = headers.Get("Host")
	return req, nil
}

// sameHostRedirects follows redirects to the probed host only (up to 10);
// for another host it stops and the redirect response is the answer.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}
