package host

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"corral/agent"
	"corral/agent/containerd"
	"corral/agent/env"
	"corral/agent/image"
	"corral/agent/network"
	"corral/agent/prober"
	"corral/agent/runtime"
	"corral/agent/runtime/cri"
	"corral/agent/server"
	"corral/agent/stats"
	"corral/agent/volume"
)

// Run runs the node until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.complete(); err != nil {
		return err
	}
	logger := klog.FromContext(ctx).WithValues("node", cfg.NodeName)
	ctx = klog.NewContext(ctx, logger)
	clk := clock.RealClock{}

	// Routes first: no pod or service traffic may find the default route.
	if err := (network.Host{}).Prepare(ctx, []string{cfg.ClusterCIDR}, []string{cfg.ServiceCIDR}); err != nil {
		return fmt.Errorf("preparing the node's network: %w", err)
	}

	cniConfDir := filepath.Join(cfg.DataDir, "cni", "net.d")
	endpoint := cfg.ContainerRuntimeEndpoint
	if endpoint == "" {
		sup := &containerd.Supervisor{DataDir: cfg.DataDir, SandboxImage: image.PauseImage, CNIConfDir: cniConfDir}
		var err error
		if endpoint, err = sup.Start(ctx); err != nil {
			return fmt.Errorf("starting containerd: %w", err)
		}
	}
	imports := image.ImportOptions{Address: strings.TrimPrefix(endpoint, "unix://")}
	if err := image.EnsurePause(ctx, imports, filepath.Join(cfg.DataDir, "images-builtin")); err != nil {
		return fmt.Errorf("importing the pause image: %w", err)
	}
	importer := &image.DirImporter{Options: imports}
	importDir := filepath.Join(cfg.DataDir, "images")
	if _, err := importer.ImportDir(ctx, importDir); err != nil {
		logger.Error(err, "importing images", "dir", importDir)
	}

	rt, err := cri.New(ctx, cri.Options{Endpoint: endpoint, PodLogDir: filepath.Join(cfg.DataDir, "pods", "logs"), DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	cniRT := &cniRuntime{Runtime: rt, confDir: cniConfDir, opts: network.CNIOptions{
		IPAMDataDir: filepath.Join(cfg.DataDir, "cni", "ipam"), Bridge: cfg.CNIBridge}}

	sources := env.NewClientSources(cfg.Client, cfg.NodeName, 5*time.Second, clk)
	volumes := &volume.Manager{Client: cfg.Client, Sources: sources, RootDir: filepath.Join(cfg.DataDir, "pods", "volumes"), Clock: clk,
		ClusterDomain: clusterDomain}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cfg.Client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName})

	var a *agent.Agent
	probes := prober.New(prober.Options{Execer: rt, Clock: clk,
		OnChange: func(uid types.UID) {
			if a != nil {
				a.Resync(cfg.NodeName, uid)
			}
		},
		Event: func(pod *corev1.Pod, container, eventType, reason, msg string) {
			recorder.Event(pod, eventType, reason, msg)
		}})
	defer probes.Stop()

	a, err = agent.New(agent.Options{Client: cfg.Client, Recorder: recorder, Thresholds: cfg.PressureThresholds, Nodes: []agent.NodeConfig{{
		Name: cfg.NodeName, Runtime: cniRT, Labels: cfg.Labels, AgentPort: int32(cfg.AgentPort),
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: cfg.NodeIP}},
		Preparer:  &preparer{volumes: volumes, sources: sources, nodeName: cfg.NodeName},
		Prober:    proberAdapter{probes}, ResyncInterval: time.Minute,
	}}})
	if err != nil {
		return err
	}

	pool := x509.NewCertPool()
	if cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return err
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no certificates", cfg.ClientCAFile)
		}
	}
	// The node's pressure conditions are judged on every sample.
	sampler := stats.NewSampler(stats.Options{NodeName: cfg.NodeName, Source: rt, Clock: clk,
		OnSample: func(sum *stats.Summary) { a.ObserveSignals(cfg.NodeName, pressureSignals(sum)) }})
	srv := &server.Server{Streamer: rt, ClientCA: pool, BindAddress: net.ParseIP(cfg.BindAddress), Port: cfg.AgentPort,
		Summary: sampler, Metrics: stats.MetricsHandler(stats.NewRegistry(sampler)),
		Pods: server.PodLookupFunc(func(ctx context.Context, namespace, name string) (*runtime.PodStatus, error) {
			return a.RuntimePod(ctx, cfg.NodeName, namespace, name)
		})}

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	start := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				errs <- err
			}
		}()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	start(func() error { return srv.Run(ctx) })
	start(func() error { return a.Run(ctx) })
	start(func() error { housekeeping(ctx, rt, importer, importDir); return nil })
	start(func() error { sampler.Run(ctx); return nil })
	logger.Info("node agent started", "endpoint", endpoint, "nodeIP", cfg.NodeIP, "agentPort", cfg.AgentPort)
	select {
	case <-ctx.Done():
		return nil
	case err := <-errs:
		return err
	}
}
