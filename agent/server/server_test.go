package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/agent/runtime"
	"corral/agent/server/streamtest"
)

// testCA issues client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) client(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// fakePods is a PodLookup over a mutable map.
type fakePods struct {
	mu   sync.Mutex
	pods map[string]*runtime.PodStatus
}

func (f *fakePods) LookupPod(_ context.Context, ns, name string) (*runtime.PodStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.pods[ns+"/"+name]; p != nil {
		c := *p
		c.Containers = append([]runtime.ContainerStatus(nil), p.Containers...)
		return &c, nil
	}
	return nil, nil
}

func (f *fakePods) setState(key string, i int, s runtime.ContainerState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods[key].Containers[i].State = s
}

type fixture struct {
	addr    string
	ca      *testCA
	pods    *fakePods
	stream  *streamtest.Server
	client  *http.Client
	logFile string
	dir     string
}

func logLine(sec int, stream, msg string) string {
	return fmt.Sprintf("%s %s F %s\n", time.Date(2026, 1, 1, 0, 0, sec, 0, time.UTC).Format(time.RFC3339Nano), stream, msg)
}

func start(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	prev, cur := filepath.Join(dir, "app", "0.log"), filepath.Join(dir, "app", "1.log")
	os.MkdirAll(filepath.Dir(prev), 0o755)
	os.WriteFile(prev, []byte(logLine(1, "stdout", "first run")), 0o644)
	os.WriteFile(cur, []byte(logLine(2, "stdout", "hello")+logLine(3, "stderr", "oops")+logLine(4, "stdout", "bye")), 0o644)
	pods := &fakePods{pods: map[string]*runtime.PodStatus{
		"ns1/web": {UID: "uid-1", Namespace: "ns1", Name: "web", SandboxReady: true, Containers: []runtime.ContainerStatus{
			{ID: "fake://c1", Name: "app", Attempt: 1, State: runtime.ContainerRunning, LogPath: cur},
			{ID: "fake://c0", Name: "app", Attempt: 0, State: runtime.ContainerExited, LogPath: prev},
			{ID: "fake://w", Name: "waiting", State: runtime.ContainerCreated},
		}},
	}}
	ca := newCA(t)
	st := streamtest.Start()
	t.Cleanup(st.Close)
	srv := &Server{Pods: pods, Streamer: st, ClientCA: ca.pool, LogPollInterval: time.Millisecond}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	cert := ca.client(t, "corral-apiserver")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}}}}
	return &fixture{addr: ln.Addr().String(), ca: ca, pods: pods, stream: st, client: client, logFile: cur, dir: dir}
}

func (f *fixture) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := f.client.Get("https://" + f.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuthentication(t *testing.T) {
	f := start(t)
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := anon.Get("https://" + f.addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz without a certificate: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = anon.Get("https://" + f.addr + "/containerLogs/ns1/web/app")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("logs without a certificate: want 401, got %v %v", resp, err)
	}
	resp.Body.Close()
	other := newCA(t)
	stranger := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{other.client(t, "x")}}}}
	if resp, err := stranger.Get("https://" + f.addr + "/containerLogs/ns1/web/app"); err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate of another CA was accepted: %d", resp.StatusCode)
	}
}

func TestLogs(t *testing.T) {
	f := start(t)
	cases := []struct {
		path string
		code int
		want string
	}{
		{"/containerLogs/ns1/web/app", 200, "hello\noops\nbye\n"},
		{"/containerLogs/ns1/web/app?tailLines=1", 200, "bye\n"},
		{"/containerLogs/ns1/web/app?limitBytes=3", 200, "hel"},
		{"/containerLogs/ns1/web/app?stream=Stderr", 200, "oops\n"},
		{"/containerLogs/ns1/web/app?sinceTime=2026-01-01T00:00:03Z", 200, "oops\nbye\n"},
		{"/containerLogs/ns1/web/app?previous=true&timestamps=true", 200, "2026-01-01T00:00:01Z first run\n"},
		{"/containerLogs/ns1/web/app?tailLines=-1", 400, "tailLines"},
		{"/containerLogs/ns1/web/app?follow=maybe", 400, "follow"},
		{"/containerLogs/ns1/web/app?sinceSeconds=5&sinceTime=2026-01-01T00:00:03Z", 400, "at most one"},
		{"/containerLogs/ns1/nope/app", 404, `pod "ns1/nope" does not exist`},
		{"/containerLogs/ns1/web/waiting", 400, `container "waiting" in pod "web" is waiting to start: ContainerCreating`},
		{"/containerLogs/ns1/web/waiting?previous=1", 400, `previous terminated container "waiting" in pod "web" not found`},
	}
	for _, c := range cases {
		code, body := f.get(t, c.path)
		if code != c.code || (code == 200 && body != c.want) || (code != 200 && !strings.Contains(body, c.want)) {
			t.Errorf("%s: got %d %q, want %d %q", c.path, code, body, c.code, c.want)
		}
	}
}

func TestLogsFollowUntilExit(t *testing.T) {
	f := start(t)
	resp, err := f.client.Get("https://" + f.addr + "/containerLogs/ns1/web/app?follow=true&tailLines=1")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if l, _ := r.ReadString('\n'); l != "bye\n" {
		t.Fatalf("first line %q", l)
	}
	lf, _ := os.OpenFile(f.logFile, os.O_APPEND|os.O_WRONLY, 0)
	lf.WriteString(logLine(5, "stdout", "more"))
	if l, _ := r.ReadString('\n'); l != "more\n" {
		t.Fatalf("followed line %q", l)
	}
	lf.WriteString(logLine(6, "stdout", "last words"))
	lf.Close()
	f.pods.setState("ns1/web", 0, runtime.ContainerExited)
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "last words\n" {
		t.Fatalf("after exit: %q %v", rest, err)
	}
}

// upgrade sends an upgrade request over TLS and returns the connection
// after the 101 answer, or the status and body of a refusal.
func (f *fixture) upgrade(t *testing.T, method, path string) (*bufio.Reader, net.Conn, int, string) {
	t.Helper()
	tr := f.client.Transport.(*http.Transport)
	conn, err := tls.Dial("tcp", f.addr, tr.TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n", method, path, f.addr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		return nil, nil, resp.StatusCode, string(b)
	}
	if resp.Header.Get("X-Stream-Protocol-Version") != "v4.channel.k8s.io" || resp.Header.Get("Upgrade") != "SPDY/3.1" {
		t.Fatalf("upgrade headers not passed on: %v", resp.Header)
	}
	return br, conn, resp.StatusCode, ""
}

func echo(t *testing.T, br *bufio.Reader, conn net.Conn, wantGreeting string) {
	t.Helper()
	if l, _ := br.ReadString('\n'); l != wantGreeting+"\n" {
		t.Fatalf("greeting %q, want %q", l, wantGreeting)
	}
	fmt.Fprint(conn, "ping\n")
	if l, _ := br.ReadString('\n'); l != "ping\n" {
		t.Fatalf("echo %q", l)
	}
}

func TestStreams(t *testing.T) {
	f := start(t)
	br, conn, _, body := f.upgrade(t, "POST", "/exec/ns1/web/app?command=sh&command=-c&command=echo+hi&input=1&output=1&error=1")
	if br == nil {
		t.Fatalf("exec refused: %s", body)
	}
	echo(t, br, conn, "exec fake://c1 [sh -c echo hi] stdin=true stdout=true stderr=true tty=false")

	br, conn, _, body = f.upgrade(t, "GET", "/attach/ns1/web/app?stdin=true&stdout=true&tty=true&stderr=true")
	if br == nil {
		t.Fatalf("attach refused: %s", body)
	}
	echo(t, br, conn, "attach fake://c1 stdin=true stdout=true stderr=false tty=true")

	br, conn, _, body = f.upgrade(t, "POST", "/portForward/ns1/web?port=80&port=8080")
	if br == nil {
		t.Fatalf("port-forward refused: %s", body)
	}
	echo(t, br, conn, "portforward uid-1 [80 8080]")

	refusals := []struct {
		path string
		code int
		want string
	}{
		{"/exec/ns1/web/app?output=1", 400, "at least one command"},
		{"/exec/ns1/web/app?command=ls", 400, "at least 1 of stdin, stdout, stderr"},
		{"/exec/ns1/web/waiting?command=ls&output=1", 404, `container not found ("waiting")`},
		{"/exec/ns1/gone/app?command=ls&output=1", 404, "does not exist"},
		{"/portForward/ns1/web?port=0", 400, "not a valid port"},
	}
	for _, c := range refusals {
		_, _, code, body := f.upgrade(t, "POST", c.path)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: got %d %q, want %d %q", c.path, code, body, c.code, c.want)
		}
	}
	// Without an upgrade the stream endpoints refuse.
	code, body := f.get(t, "/exec/ns1/web/app?command=ls&output=1")
	if code != 400 || !strings.Contains(body, "Upgrade request required") {
		t.Errorf("plain GET of exec: %d %q", code, body)
	}
}
