package streamproxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// backend refuses requests without "ok" in the query and otherwise
// switches protocols, reports the headers it got, and echoes.
func backend(t *testing.T) *url.URL {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("ok") == "" {
			w.Header().Set("X-Reason", "refused")
			http.Error(w, "container not found", http.StatusNotFound)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
		fmt.Fprintf(buf, "path=%s auth=%q impersonate=%q extra=%q\n", r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Impersonate-User"), r.Header.Get("Impersonate-Extra-Scopes"))
		buf.Flush()
		io.Copy(conn, buf)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

func TestProxy(t *testing.T) {
	be := backend(t)
	target := *be
	target.Path, target.RawQuery = "/session/1", "ok=1"
	refused := *be
	refused.Path = "/session/2"
	mux := http.NewServeMux()
	mux.Handle("/good", &Handler{Target: &target})
	mux.Handle("/bad", &Handler{Target: &refused})
	front := httptest.NewServer(mux)
	defer front.Close()

	dial := func(path string, upgrade bool) (*bufio.Reader, net.Conn, *http.Response) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		hdr := "Authorization: Bearer secret\r\nImpersonate-User: x\r\nImpersonate-Extra-Scopes: y\r\n"
		if upgrade {
			hdr += "Connection: Upgrade\r\nUpgrade: test\r\n"
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: front\r\n%s\r\n", path, hdr)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return br, conn, resp
	}

	br, conn, resp := dial("/good", true)
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "test" {
		t.Fatalf("want 101 with the backend's headers, got %d %v", resp.StatusCode, resp.Header)
	}
	if l, _ := br.ReadString('\n'); l != `path=/session/1 auth="" impersonate="" extra=""`+"\n" {
		t.Fatalf("backend saw %q", l)
	}
	fmt.Fprint(conn, "hello\n")
	if l, _ := br.ReadString('\n'); l != "hello\n" {
		t.Fatalf("echo %q", l)
	}

	_, _, resp = dial("/bad", true)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Reason") != "refused" || !strings.Contains(string(body), "container not found") {
		t.Fatalf("refusal not passed on: %d %v %q", resp.StatusCode, resp.Header, body)
	}

	_, _, resp = dial("/good", false)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain request: want 400, got %d", resp.StatusCode)
	}
}

func TestDialUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/x", nil)
	req.Header.Set("Connection", "Upgrade")
	(&Handler{Target: &url.URL{Scheme: "http", Host: addr}}).ServeHTTP(rec, req)
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("want 502, got %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	(&Handler{Target: &url.URL{Scheme: "ftp", Host: addr}}).ServeHTTP(rec, req)
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "unsupported scheme") {
		t.Fatalf("ftp target: want 502 unsupported scheme, got %d %s", rec.Code, rec.Body)
	}
}
