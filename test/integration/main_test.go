// Package integration drives a real corral server, started in-process on
// embedded etcd, with real clients: the kubectl binaries on the machine and
// client-go.
package integration

import (
	"fmt"
	"os"
	"testing"

	"k8s.io/client-go/kubernetes"

	"corral/test/testserver"
)

// shared is one server for the tests that do not restart it.
var shared *testserver.Server

func TestMain(m *testing.M) {
	s, err := testserver.Start(testserver.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting corral:", err)
		os.Exit(1)
	}
	shared = s
	code := m.Run()
	s.Cleanup()
	os.Exit(code)
}

func clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	c, err := kubernetes.NewForConfig(shared.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
