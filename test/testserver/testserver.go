// Package testserver starts a real corral server in-process, on embedded
// etcd with fast raft ticks and free loopback ports, for integration tests
// and benchmarks.
package testserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"corral/server"
)

// Server is a running in-process corral server.
type Server struct {
	DataDir    string
	Kubeconfig string
	URL        string
	Config     *restclient.Config
	cancel     context.CancelFunc
	done       chan error
	stopOnce   sync.Once
}

// Options adjust the server started.
type Options struct {
	// DataDir reuses a data directory (restart tests); default a new temp dir.
	DataDir string
	// DatastoreEndpoint uses an external etcd.
	DatastoreEndpoint []string
	// Token sets the join token.
	Token string
	// CronJobClock, when set, drives the CronJob controller, so a test can
	// step a fake clock (k8s.io/utils/clock/testing) past a schedule.
	CronJobClock clock.WithTicker
}

// Start starts a server and waits until it serves and is bootstrapped.
func Start(opts Options) (*Server, error) {
	dataDir := opts.DataDir
	if dataDir == "" {
		d, err := os.MkdirTemp("", "corral-test-")
		if err != nil {
			return nil, err
		}
		dataDir = d
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg := server.Defaults()
	cfg.DataDir = dataDir
	cfg.BindAddress = "127.0.0.1"
	cfg.Listener = ln
	cfg.DatastoreEndpoint = opts.DatastoreEndpoint
	cfg.Token = opts.Token
	cfg.CronJobClock = opts.CronJobClock
	cfg.FastEtcd = true
	cfg.DisableAgent = true
	cfg.Ready = make(chan struct{})
	if cfg.EtcdClientPort, err = FreePort(); err != nil {
		return nil, err
	}
	if cfg.EtcdPeerPort, err = FreePort(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{DataDir: dataDir, Kubeconfig: server.KubeconfigPath(dataDir), cancel: cancel, done: make(chan error, 1),
		URL: "https://" + ln.Addr().String()}
	go func() { s.done <- server.Run(ctx, cfg) }()
	select {
	case <-cfg.Ready:
	case err := <-s.done:
		cancel()
		return nil, fmt.Errorf("server exited: %w", err)
	case <-time.After(2 * time.Minute):
		cancel()
		return nil, fmt.Errorf("server did not become ready in 2 minutes")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		s.Stop()
		return nil, err
	}
	rc.QPS, rc.Burst = 1000, 2000
	s.Config = rc
	if err := s.waitReady(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Stop ends the server and waits for it to exit; stopping twice is fine.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
		}
	})
}

// Cleanup stops the server and removes its data directory.
func (s *Server) Cleanup() {
	s.Stop()
	if filepath.Base(s.DataDir) != "" {
		os.RemoveAll(s.DataDir)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls /readyz, which passes once every start-up hook (the
// default namespaces among them) has finished.
func (s *Server) waitReady() error {
	client, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background())
		if err == nil && string(body) == "ok" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready after a minute: %v %s", err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
