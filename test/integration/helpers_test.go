package integration

import (
	"bytes"
	"os"
)

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func trimNewline(b []byte) []byte { return bytes.TrimSpace(b) }
