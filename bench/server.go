package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// benchServer is a corral server subprocess on loopback ports.
type benchServer struct {
	cmd     *exec.Cmd
	dataDir string
	config  *restclient.Config
	// nodeLease is the simulated nodes' Lease duration (default 10 s,
	// renewed every quarter of it).
	nodeLease time.Duration
	// nodePods is each simulated node's pods capacity (default 110, as
	// kubelet's); the large cluster raises it when its pods need more.
	nodePods int64
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts `corral server --disable-agent` with extra flags.
func startServer(ctx context.Context, binary string, extra ...string) (*benchServer, error) {
	dir, err := os.MkdirTemp("", "corral-bench-")
	if err != nil {
		return nil, err
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(binary, "server", "--disable-agent", "--data-dir", dir, "--bind-address", "127.0.0.1",
		"--https-listen-port", strconv.Itoa(ports[0]), "--etcd-client-port", strconv.Itoa(ports[1]), "--etcd-peer-port", strconv.Itoa(ports[2]))
	cmd.Args = append(cmd.Args, extra...)
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	s := &benchServer{cmd: cmd, dataDir: dir}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("server not ready in 2 minutes; see %s", logFile.Name())
		}
		if cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig.yaml")); err == nil {
			cfg.QPS, cfg.Burst = 100000, 100000
			c, err := kubernetes.NewForConfig(cfg)
			if err == nil {
				body, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
				if err == nil && string(body) == "ok" {
					s.config = cfg
					return s, nil
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *benchServer) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
		}
	}
	os.RemoveAll(s.dataDir)
}

// rss reads the server's resident set size in MB.
func (s *benchServer) rss() (float64, error) { return pidRSS(s.cmd.Process.Pid) }

func (s *benchServer) idleRSS(ctx context.Context) (float64, error) {
	if err := sleep(ctx, 10*time.Second); err != nil {
		return 0, err
	}
	return s.rss()
}

func readTrimmed(path string) (string, error) {
	data, err := os.ReadFile(path)
	return strings.TrimSpace(string(data)), err
}

// liveHeap is the server's live Go heap as the last GC marked it
// (go_gc_heap_live_bytes), in MB: with the RSS it tells live objects from
// GC headroom (the heap grows to twice the live heap at GOGC=100), freed
// memory not yet returned, and etcd's mapped database.
func (s *benchServer) liveHeap(ctx context.Context) (float64, error) {
	families, err := serverMetrics(ctx, s.config)
	if err != nil {
		return 0, err
	}
	fam, ok := families["go_gc_heap_live_bytes"]
	if !ok || len(fam.Metric) == 0 {
		return 0, fmt.Errorf("/metrics has no go_gc_heap_live_bytes")
	}
	return fam.Metric[0].GetGauge().GetValue() / (1 << 20), nil
}

// memory reports the RSS and the live Go heap, as "N MB RSS (live Go
// heap M MB)".
func (s *benchServer) memory(ctx context.Context) (string, error) {
	rss, err := s.rss()
	if err != nil {
		return "", err
	}
	heap, err := s.liveHeap(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%.0f MB (live Go heap %.0f MB)", rss, heap), nil
}
