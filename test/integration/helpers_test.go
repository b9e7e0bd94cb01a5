package integration

import (
	"bytes"
	"os"
)

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func trimNewline(b []byte) []byte { return bytes.TrimSpace(b) }

// ownConfigMaps selects the ConfigMaps a test made itself: the
// root-ca-cert-publisher puts kube-root-ca.crt into every namespace, at a
// moment of its own choosing.
const ownConfigMaps = "metadata.name!=kube-root-ca.crt"
