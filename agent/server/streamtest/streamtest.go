// Package streamtest is a stand-in CRI streaming server for tests. It
// implements corral/agent/runtime.Streamer with URLs to itself and accepts
// any HTTP upgrade (SPDY or WebSocket, unparsed): after "101 Switching
// Protocols" it writes one line naming the session ("exec c1 [echo hi]
// stdin=true ...") and then echoes every byte it receives. That tests the
// proxies between a client and the runtime byte for byte; it does not
// speak SPDY, so SPDY clients see their session fail after the upgrade
// (test/e2e runs real sessions against containerd).
package streamtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// Server is a running stand-in streaming server.
type Server struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []string
}

// Start starts the server on loopback.
func Start() *Server {
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Calls returns the Streamer calls seen so far, e.g. "exec c1 [echo hi] stdin=true stdout=true stderr=false tty=false".
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *Server) url(call string) string {
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	return s.srv.URL + "/session?" + url.Values{"call": {call}}.Encode()
}

func (s *Server) Exec(_ context.Context, containerID string, cmd []string, tty, stdin, stdout, stderr bool) (string, error) {
	return s.url(fmt.Sprintf("exec %s %v stdin=%v stdout=%v stderr=%v tty=%v", containerID, cmd, stdin, stdout, stderr, tty)), nil
}

func (s *Server) Attach(_ context.Context, containerID string, tty, stdin, stdout, stderr bool) (string, error) {
	return s.url(fmt.Sprintf("attach %s stdin=%v stdout=%v stderr=%v tty=%v", containerID, stdin, stdout, stderr, tty)), nil
}

func (s *Server) PortForward(_ context.Context, uid types.UID, ports []int32) (string, error) {
	return s.url(fmt.Sprintf("portforward %s %v", uid, ports)), nil
}

func (s *Server) serve(w http.ResponseWriter, req *http.Request) {
	if !strings.Contains(strings.ToLower(req.Header.Get("Connection")), "upgrade") {
		http.Error(w, "upgrade required", http.StatusBadRequest)
		return
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n", req.Header.Get("Upgrade"))
	if p := req.Header.Get("X-Stream-Protocol-Version"); p != "" {
		fmt.Fprintf(buf, "X-Stream-Protocol-Version: %s\r\n", strings.TrimSpace(strings.Split(p, ",")[0]))
	}
	fmt.Fprintf(buf, "\r\n%s\n", req.URL.Query().Get("call"))
	buf.Flush()
	io.Copy(conn, bufio.NewReader(buf))
}
