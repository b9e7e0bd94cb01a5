package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"

	"corral/agent"
	"corral/test/testserver"
)

// joinSimulated joins count simulated nodes named name-i, carrying lbl,
// to srv with the join token, as `corral agent --simulate` does. The
// returned function stops them as a dead machine stops (no goodbye). At
// cleanup they are stopped and their Node objects deleted, so that no
// later test schedules onto a dead node that still looks Ready.
func joinSimulated(t *testing.T, srv *testserver.Server, name string, count int, lbl map[string]string) func() {
	t.Helper()
	token, err := readFile(filepath.Join(srv.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	rc := &restclient.Config{Host: srv.URL, BearerToken: string(trimNewline(token)), QPS: 500, Burst: 1000,
		TLSClientConfig: restclient.TLSClientConfig{CAFile: filepath.Join(srv.DataDir, "tls", "ca.crt")}}
	client := kubernetes.NewForConfigOrDie(rc)
	nodes, err := agent.SimulatedNodes{Count: count, Name: name, Labels: lbl, CPU: resource.MustParse("4"), Memory: resource.MustParse("8Gi"),
		EphemeralStorage: resource.MustParse("20Gi"), Pods: 110, StartDelay: 50 * time.Millisecond, JobRunFor: 300 * time.Millisecond}.NodeConfigs()
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{Client: client, Nodes: nodes, StatusInterval: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(func() {
		stop()
		for _, n := range nodes {
			_ = client.CoreV1().Nodes().Delete(context.Background(), n.Name, metav1.DeleteOptions{})
		}
	})
	return stop
}

// startSimulatedNodes joins count simulated nodes to the shared server.
func startSimulatedNodes(t *testing.T, name string, count int) func() {
	t.Helper()
	return joinSimulated(t, shared, name, count, nil)
}

// startLabeledNodes joins count simulated nodes carrying lbl to the shared
// server, so that a test's workloads (selecting lbl) ignore other tests'
// nodes.
func startLabeledNodes(t *testing.T, name string, count int, lbl map[string]string) func() {
	t.Helper()
	return joinSimulated(t, shared, name, count, lbl)
}
