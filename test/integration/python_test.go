package integration

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPythonClient runs the official Python client (Debian's
// python3-kubernetes, installed by scripts/install-deps.sh).
func TestPythonClient(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import kubernetes").Run(); err != nil {
		t.Skip("python3-kubernetes is not installed (scripts/install-deps.sh installs it)")
	}
	out, err := exec.Command(py, "testdata/python_client.py", shared.Kubeconfig, "python-client").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "python client ok") {
		t.Fatalf("python client: %v\n%s", err, out)
	}
}
