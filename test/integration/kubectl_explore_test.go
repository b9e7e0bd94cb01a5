package integration

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// Temporary: KUBECTL_EXPLORE=1 keeps the server up for manual kubectl runs.
func TestKubectlExplore(t *testing.T) {
	if os.Getenv("KUBECTL_EXPLORE") == "" {
		t.Skip()
	}
	os.WriteFile("/tmp/kctest/kubeconfig.path", []byte(shared.Kubeconfig), 0o644)
	fmt.Println("KUBECONFIG", shared.Kubeconfig)
	time.Sleep(40 * time.Minute)
}
