package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	agentruntime "corral/agent/runtime"
	agentserver "corral/agent/server"
	"corral/agent/server/streamtest"
)

// stubAgent is the agent's real HTTPS API (agent/server) on loopback over
// a pod table the test controls, real CRI log files, and the stand-in
// streaming server of agent/server/streamtest.
type stubAgent struct {
	mu     sync.Mutex
	pods   map[string]*agentruntime.PodStatus
	stream *streamtest.Server
	port   int
	dir    string
}

func (a *stubAgent) LookupPod(_ context.Context, ns, name string) (*agentruntime.PodStatus, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pods[ns+"/"+name]
	if p == nil {
		return nil, nil
	}
	c := *p
	c.Containers = append([]agentruntime.ContainerStatus(nil), p.Containers...)
	return &c, nil
}

func (a *stubAgent) set(key string, st *agentruntime.PodStatus) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pods[key] = st
}

func startStubAgent(t *testing.T) *stubAgent {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(shared.DataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("cluster CA is not PEM")
	}
	a := &stubAgent{pods: map[string]*agentruntime.PodStatus{}, stream: streamtest.Start(), dir: t.TempDir()}
	t.Cleanup(a.stream.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.port = ln.Addr().(*net.TCPAddr).Port
	srv := &agentserver.Server{Pods: a, Streamer: a.stream, ClientCA: pool, LogPollInterval: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

func criLine(sec int, stream, tag, msg string) string {
	return fmt.Sprintf("%s %s %s %s\n", time.Date(2026, 3, 1, 10, 0, sec, 0, time.UTC).Format(time.RFC3339Nano), stream, tag, msg)
}

func appendLog(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "")); err != nil {
		t.Fatal(err)
	}
}

// podProxyFixture registers a node whose agent is the stub, a pod bound to
// it reported running, and a pod nobody scheduled.
func podProxyFixture(t *testing.T, suffix string) (*kctl, *stubAgent, string) {
	t.Helper()
	agent := startStubAgent(t)
	suffix += "-" + utilrand.String(5) // fresh names when tests repeat (-count)
	k := newKctl(t, kubectlBinary{name: "usr-bin", path: "/usr/bin/kubectl"}, t.TempDir(), "podproxy-"+suffix)
	c := clientset(t)
	ctx := context.Background()

	nodeName := "podproxy-" + suffix
	if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CoreV1().Nodes().Delete(context.Background(), nodeName, metav1.DeleteOptions{}) })
	// Controllers (pod CIDRs, node lifecycle) write the node too: retry conflicts.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := c.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "podproxy-node.invalid"}, {Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
		node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(agent.port)
		_, err = c.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Tolerating everything keeps the node lifecycle controller (the stub
	// renews no lease) from evicting the pod.
	spec := corev1.PodSpec{NodeName: nodeName, Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
		Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}
	pod, err := c.CoreV1().Pods(k.ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := c.CoreV1().Pods(k.ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 1, ContainerID: "fake://c1",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
		_, err = c.CoreV1().Pods(k.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pending := corev1.PodSpec{SchedulerName: "nobody", Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}
	if _, err := c.CoreV1().Pods(k.ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pending"}, Spec: pending}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	prev, cur := filepath.Join(agent.dir, "app-0.log"), filepath.Join(agent.dir, "app-1.log")
	appendLog(t, prev, criLine(1, "stdout", "F", "first run"), criLine(2, "stderr", "F", "crashed"))
	appendLog(t, cur, criLine(10, "stdout", "F", "hello"), criLine(11, "stderr", "P", "par"), criLine(12, "stderr", "F", "tial"), criLine(13, "stdout", "F", "ready"))
	agent.set(k.ns+"/web", &agentruntime.PodStatus{UID: pod.UID, Namespace: k.ns, Name: "web", SandboxReady: true,
		Containers: []agentruntime.ContainerStatus{
			{ID: "fake://c1", Name: "app", Attempt: 1, State: agentruntime.ContainerRunning, LogPath: cur},
			{ID: "fake://c0", Name: "app", Attempt: 0, State: agentruntime.ContainerExited, LogPath: prev},
		}})
	return k, agent, cur
}

func TestPodLogsThroughAgent(t *testing.T) {
	k, agent, cur := podProxyFixture(t, "logs")

	k.run("logs", "web").ok().is("hello\npartial\nready")
	k.run("logs", "web", "--tail=1").ok().is("ready")
	k.run("logs", "pod/web", "-c", "app", "--previous").ok().is("first run\ncrashed")
	k.run("logs", "web", "--timestamps", "--tail=2").ok().is("2026-03-01T10:00:11Z partial\n2026-03-01T10:00:13Z ready")
	k.run("logs", "web", "--limit-bytes=8").ok().is("hello\npa")

	// Errors come back as Status objects with upstream's messages.
	k.run("logs", "web", "-c", "nope").fails().errHas("container nope is not valid for pod web")
	k.run("logs", "pending").fails().errHas("pod pending does not have a host assigned")
	k.run("logs", "web", "--tail=-5", "--since=1h").fails()
	k.run("logs", "missing").fails().errHas(`pods "missing" not found`)

	// The agent's own refusals pass through (as kubelet's do).
	agent.set(k.ns+"/web", &agentruntime.PodStatus{Namespace: k.ns, Name: "web", Containers: []agentruntime.ContainerStatus{
		{ID: "fake://c1", Name: "app", State: agentruntime.ContainerRunning, LogPath: cur}}})
	k.run("logs", "web", "--previous").fails().errHas(`previous terminated container "app" in pod "web" not found`)
	agent.set(k.ns+"/web", &agentruntime.PodStatus{Namespace: k.ns, Name: "web"})
	k.run("logs", "web").fails().errHas(`container "app" in pod "web" is waiting to start: ContainerCreating`)
	agent.set(k.ns+"/web", &agentruntime.PodStatus{Namespace: k.ns, Name: "web", Containers: []agentruntime.ContainerStatus{
		{ID: "fake://c1", Name: "app", State: agentruntime.ContainerRunning, LogPath: cur}}})

	// Follow: lines appear as they are written, across a rotation, and
	// kubectl ends when the container exits.
	bg := k.start(2*time.Minute, "logs", "-f", "web", "--tail=1")
	if !kubectlPoll(30*time.Second, func() bool { return bg.output() == "ready\n" }) {
		t.Fatalf("follow: first output %q", bg.output())
	}
	appendLog(t, cur, criLine(20, "stdout", "F", "live line"))
	if !kubectlPoll(30*time.Second, func() bool { return bg.output() == "ready\nlive line\n" }) {
		t.Fatalf("follow: appended line not shown: %q", bg.output())
	}
	if err := os.Rename(cur, cur+".20260301-100021"); err != nil {
		t.Fatal(err)
	}
	appendLog(t, cur, criLine(22, "stdout", "F", "after rotation"))
	if !kubectlPoll(30*time.Second, func() bool { return bg.output() == "ready\nlive line\nafter rotation\n" }) {
		t.Fatalf("follow: rotated file not followed: %q", bg.output())
	}
	agent.set(k.ns+"/web", &agentruntime.PodStatus{Namespace: k.ns, Name: "web", Containers: []agentruntime.ContainerStatus{
		{ID: "fake://c1", Name: "app", State: agentruntime.ContainerExited, LogPath: cur}}})
	select {
	case <-bg.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("kubectl logs -f did not end after the container exited: %q", bg.output())
	}
	if bg.cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("kubectl logs -f exit %d: %q", bg.cmd.ProcessState.ExitCode(), bg.output())
	}
}

// rawUpgrade sends an upgrade request to the API server with the admin
// client certificate and returns the reader after a 101, or the refusal.
func rawUpgrade(t *testing.T, path string, headers map[string]string) (*bufio.Reader, net.Conn, int, string) {
	t.Helper()
	cfg, err := restclient.TLSConfigFor(shared.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NextProtos = []string{"http/1.1"}
	u, _ := url.Parse(shared.URL)
	conn, err := tls.Dial("tcp", u.Host, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n", path, u.Host)
	if headers != nil {
		req += "Connection: Upgrade\r\n"
	}
	for k, v := range headers {
		req += k + ": " + v + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		return nil, nil, resp.StatusCode, string(b)
	}
	return br, conn, resp.StatusCode, ""
}

func TestPodStreamsThroughAgent(t *testing.T) {
	k, agent, _ := podProxyFixture(t, "streams")
	spdy := map[string]string{"Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io"}
	base := "/api/v1/namespaces/" + k.ns + "/pods/"

	// The SPDY upgrade goes API server -> agent -> runtime and back, byte
	// for byte (the stand-in runtime greets, then echoes).
	cases := []struct{ path, greeting string }{
		{base + "web/exec?command=echo&command=hi&stdout=true&stdin=true", "exec fake://c1 [echo hi] stdin=true stdout=true stderr=false tty=false"},
		{base + "web/attach?stdout=true&stderr=true&tty=true", "attach fake://c1 stdin=false stdout=true stderr=false tty=true"},
		{base + "web/portforward?ports=8080", fmt.Sprintf("portforward %s [8080]", podUID(t, k.ns, "web"))},
	}
	for _, c := range cases {
		br, conn, code, body := rawUpgrade(t, c.path, spdy)
		if br == nil {
			t.Errorf("%s: refused %d %s", c.path, code, body)
			continue
		}
		if l, _ := br.ReadString('\n'); l != c.greeting+"\n" {
			t.Errorf("%s: greeting %q, want %q", c.path, l, c.greeting)
		}
		fmt.Fprint(conn, "ping\n")
		if l, _ := br.ReadString('\n'); l != "ping\n" {
			t.Errorf("%s: echo %q", c.path, l)
		}
	}

	refusals := []struct {
		path string
		code int
		want string
	}{
		{base + "web/exec?command=ls&stdout=true&container=nope", 400, "container nope is not valid for pod web"},
		{base + "web/exec?stdout=true", 400, "at least one command"},
		{base + "pending/exec?command=ls&stdout=true", 400, "does not have a host assigned"},
	}
	for _, c := range refusals {
		_, _, code, body := rawUpgrade(t, c.path, spdy)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: got %d %q, want %d %q", c.path, code, body, c.code, c.want)
		}
	}
	// Without an upgrade the stream subresources refuse.
	if _, _, code, body := rawUpgrade(t, base+"web/exec?command=ls&stdout=true", nil); code != 400 || !strings.Contains(body, "Upgrade request required") {
		t.Errorf("exec without an upgrade: got %d %q", code, body)
	}

	// WebSocket v5 exec is translated: the API server accepts the
	// WebSocket and opens a SPDY session to the agent with the same
	// options. (The stand-in runtime does not speak SPDY, so the session
	// goes no further; test/e2e runs real ones.)
	before := len(agent.stream.Calls())
	ws := dialWebSocket(t, base+"web/exec?command=echo&command=ws&stdin=true&stdout=true&stderr=true", "v5.channel.k8s.io")
	if ws.Subprotocol() != "v5.channel.k8s.io" {
		t.Errorf("exec WebSocket protocol %q", ws.Subprotocol())
	}
	if !kubectlPoll(45*time.Second, func() bool { return len(agent.stream.Calls()) > before }) {
		t.Fatalf("translated exec never reached the runtime")
	}
	if got := agent.stream.Calls()[before]; got != "exec fake://c1 [echo ws] stdin=true stdout=true stderr=true tty=false" {
		t.Errorf("translated exec reached the runtime as %q", got)
	}
	ws.Close()

	// The port-forward tunnel (SPDY frames in WebSocket messages) is
	// unwrapped towards the agent: the runtime's bytes arrive as binary
	// messages and the client's messages reach the runtime as bytes.
	ws = dialWebSocket(t, base+"web/portforward?ports=8080", "SPDY/3.1+portforward.k8s.io")
	if ws.Subprotocol() != "SPDY/3.1+portforward.k8s.io" {
		t.Errorf("port-forward tunnel protocol %q", ws.Subprotocol())
	}
	ws.SetReadDeadline(time.Now().Add(60 * time.Second))
	want := fmt.Sprintf("portforward %s [8080]\n", podUID(t, k.ns, "web"))
	var got string
	for len(got) < len(want) {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("tunnel after %q: %v", got, err)
		}
		got += string(msg)
	}
	if got != want {
		t.Errorf("tunnel greeting %q, want %q", got, want)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	got = ""
	for len(got) < 5 {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("tunnel echo after %q: %v", got, err)
		}
		got += string(msg)
	}
	if got != "ping\n" {
		t.Errorf("tunnel echo %q", got)
	}
	ws.Close()

	// The real kubectl speaks WebSocket first: its exec is translated and
	// reaches the runtime through the agent as SPDY.
	before = len(agent.stream.Calls())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin.path, "exec", "-n", k.ns, "web", "--", "echo", "from-kubectl")
	cmd.Env = k.environ()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	if !kubectlPoll(45*time.Second, func() bool { return len(agent.stream.Calls()) > before }) {
		t.Fatalf("kubectl exec never reached the runtime")
	}
	if got := agent.stream.Calls()[before]; got != "exec fake://c1 [echo from-kubectl] stdin=false stdout=true stderr=true tty=false" {
		t.Errorf("kubectl exec reached the runtime as %q", got)
	}

	// kubectl port-forward: the tunnel it opens at start reaches the
	// runtime.
	before = len(agent.stream.Calls())
	pf := exec.CommandContext(ctx, k.bin.path, "port-forward", "-n", k.ns, "pod/web", ":8080")
	pf.Env = k.environ()
	var pfOut strings.Builder
	pf.Stdout, pf.Stderr = &pfOut, &pfOut
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); pf.Wait() }()
	if !kubectlPoll(45*time.Second, func() bool { return len(agent.stream.Calls()) > before }) {
		t.Fatalf("kubectl port-forward never reached the runtime")
	}
	if got, want := agent.stream.Calls()[before], fmt.Sprintf("portforward %s []", podUID(t, k.ns, "web")); got != want {
		t.Errorf("kubectl port-forward reached the runtime as %q, want %q", got, want)
	}
}

// dialWebSocket opens a WebSocket to the API server with the admin client
// certificate, asking for protocol.
func dialWebSocket(t *testing.T, path, protocol string) *websocket.Conn {
	t.Helper()
	cfg, err := restclient.TLSConfigFor(shared.Config)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(shared.URL)
	d := websocket.Dialer{TLSClientConfig: cfg, Subprotocols: []string{protocol}, HandshakeTimeout: 30 * time.Second}
	conn, resp, err := d.Dial("wss://"+u.Host+path, nil)
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		t.Fatalf("WebSocket %s: %v %s", path, err, body)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func podUID(t *testing.T, ns, name string) string {
	t.Helper()
	p, err := clientset(t).CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(p.UID)
}
