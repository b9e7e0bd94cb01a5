package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	genericapiserver "k8s.io/apiserver/pkg/server"

	"corral/agent/host"
	"corral/apiserver"
	"corral/controllers/manager"
	"corral/scheduler"
	"corral/storage"
)

// Config holds the settings of `corral server`; flag names match the
// field docs.
type Config struct {
	DataDir           string   // --data-dir
	BindAddress       string   // --bind-address
	HTTPSPort         int      // --https-listen-port
	AdvertiseAddress  string   // --advertise-address
	DatastoreEndpoint []string // --datastore-endpoint (external etcd)
	DatastoreCAFile   string   // --datastore-cafile
	DatastoreCertFile string   // --datastore-certfile
	DatastoreKeyFile  string   // --datastore-keyfile
	EtcdClientPort    int      // --etcd-client-port (embedded etcd)
	EtcdPeerPort      int      // --etcd-peer-port (embedded etcd)
	ServiceCIDR       string   // --service-cidr
	ClusterCIDR       string   // --cluster-cidr
	NodePortRange     string   // --service-node-port-range
	Token             string   // --token
	TLSSANs           []string // --tls-san
	DisableAgent      bool     // --disable-agent
	// Agent configures the server's own node (unless DisableAgent):
	// --node-name, --node-ip, --agent-port, --container-runtime-endpoint,
	// --cni-bridge. Client, DataDir, CIDRs and CA are filled by Run.
	Agent              host.Config
	DisableControllers bool // --disable-controllers
	DisableScheduler   bool // --disable-scheduler
	Version            string
	// Node lifecycle: --node-monitor-grace-period, --node-eviction-rate
	// and --default-unreachable-toleration-seconds (see Defaults).
	NodeMonitorGracePeriod              time.Duration
	NodeEvictionRate                    float64
	DefaultUnreachableTolerationSeconds int
	// LocalStoragePath is where local-path volumes live on the nodes
	// (--default-local-storage-path; default <data-dir>/storage).
	LocalStoragePath string

	// Listener replaces BindAddress:HTTPSPort (tests listen on port 0).
	Listener net.Listener
	// FastEtcd shortens the embedded etcd's raft ticks (tests).
	FastEtcd bool
	// Ready, when set, is closed once the API server serves.
	Ready chan struct{}
	// CronJobClock, when set, drives the CronJob controller (tests).
	CronJobClock clock.WithTicker
}

// Defaults fills what a fresh `corral server` uses.
func Defaults() Config {
	dataDir := "/var/lib/corral"
	if os.Geteuid() != 0 {
		home, _ := os.UserHomeDir()
		dataDir = filepath.Join(home, ".corral")
	}
	return Config{
		DataDir: dataDir, BindAddress: "0.0.0.0", HTTPSPort: 6443,
		EtcdClientPort: 2379, EtcdPeerPort: 2380,
		ServiceCIDR: "10.43.0.0/16", ClusterCIDR: "10.42.0.0/16", NodePortRange: "30000-32767",
		// corral's fast failover (see controllers/nodelifecycle): upstream
		// waits 40 s + 300 s, corral 5 s + 2 s.
		NodeMonitorGracePeriod: 5 * time.Second, NodeEvictionRate: 10, DefaultUnreachableTolerationSeconds: 2,
	}
}

// localStoragePath is the local-path volumes' root on the nodes, as k3s:
// <data-dir>/storage unless --default-local-storage-path says otherwise.
func localStoragePath(cfg Config) string {
	if cfg.LocalStoragePath != "" {
		return cfg.LocalStoragePath
	}
	if abs, err := filepath.Abs(cfg.DataDir); err == nil {
		return filepath.Join(abs, "storage")
	}
	return filepath.Join(cfg.DataDir, "storage")
}

// Paths of the files a server keeps in its data directory.
func KubeconfigPath(dataDir string) string { return filepath.Join(dataDir, "kubeconfig.yaml") }
func TokenPath(dataDir string) string      { return filepath.Join(dataDir, "token") }

// Run starts the control plane and serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	_, serviceCIDR, err := net.ParseCIDR(cfg.ServiceCIDR)
	if err != nil {
		return fmt.Errorf("--service-cidr: %w", err)
	}
	_, clusterCIDR, err := net.ParseCIDR(cfg.ClusterCIDR)
	if err != nil {
		return fmt.Errorf("--cluster-cidr: %w", err)
	}
	portBase, portSize, err := parsePortRange(cfg.NodePortRange)
	if err != nil {
		return fmt.Errorf("--service-node-port-range: %w", err)
	}
	if cfg.NodeMonitorGracePeriod <= 0 {
		return fmt.Errorf("--node-monitor-grace-period must be positive, not %s", cfg.NodeMonitorGracePeriod)
	}
	if cfg.NodeEvictionRate <= 0 {
		return fmt.Errorf("--node-eviction-rate must be positive, not %g", cfg.NodeEvictionRate)
	}
	if cfg.DefaultUnreachableTolerationSeconds < 0 {
		return fmt.Errorf("--default-unreachable-toleration-seconds must not be negative, not %d", cfg.DefaultUnreachableTolerationSeconds)
	}
	toleration := time.Duration(cfg.DefaultUnreachableTolerationSeconds) * time.Second
	bind := net.ParseIP(cfg.BindAddress)
	if bind == nil {
		return fmt.Errorf("--bind-address %q is not an IP address", cfg.BindAddress)
	}
	advertise, err := advertiseAddress(cfg.AdvertiseAddress, bind)
	if err != nil {
		return err
	}
	port := cfg.HTTPSPort
	if cfg.Listener != nil {
		port = cfg.Listener.Addr().(*net.TCPAddr).Port
	}

	token, err := ensureToken(TokenPath(cfg.DataDir), cfg.Token)
	if err != nil {
		return err
	}
	certs := pki{dir: filepath.Join(cfg.DataDir, "tls")}
	hostname, _ := os.Hostname()
	kubernetesIP := net.ParseIP(storage.NewIPAllocator(nil, "", serviceCIDR).First())
	dnsNames := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if hostname != "" {
		dnsNames = append(dnsNames, hostname)
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), kubernetesIP, advertise}
	for _, san := range cfg.TLSSANs {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else {
			dnsNames = append(dnsNames, san)
		}
	}
	if !bind.IsUnspecified() {
		ips = append(ips, bind)
	}
	if err := certs.ensure(dnsNames, ips); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}

	endpoints := cfg.DatastoreEndpoint
	if len(endpoints) == 0 {
		etcd, err := storage.StartEmbedded(ctx, storage.EmbeddedConfig{
			DataDir:   filepath.Join(cfg.DataDir, "etcd"),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", cfg.EtcdClientPort),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", cfg.EtcdPeerPort),
			Fast:      cfg.FastEtcd,
		})
		if err != nil {
			return err
		}
		defer etcd.Close()
		endpoints = etcd.Endpoints
	}

	srv, err := apiserver.New(apiserver.Config{
		Listener: cfg.Listener, BindAddress: bind, Port: port,
		ServingCertFile: certs.ServingCert(), ServingKeyFile: certs.ServingKey(), ClientCAFile: certs.CACert(),
		AgentClientCertFile: certs.AgentClientCert(), AgentClientKeyFile: certs.AgentClientKey(),
		EtcdEndpoints: endpoints, EtcdCAFile: cfg.DatastoreCAFile, EtcdCertFile: cfg.DatastoreCertFile, EtcdKeyFile: cfg.DatastoreKeyFile,
		JoinToken: token, ServiceAccountKeyFile: certs.ServiceAccountKey(), ServiceCIDR: serviceCIDR, NodePortBase: portBase, NodePortSize: portSize,
		AdvertiseAddress: advertise, Version: cfg.Version,
	})
	if err != nil {
		return err
	}
	// The kubeconfig points at loopback unless the server listens on one
	// address only.
	kubeHost := "127.0.0.1"
	if !bind.IsUnspecified() {
		kubeHost = bind.String()
	}
	server := "https://" + net.JoinHostPort(kubeHost, fmt.Sprint(port))
	if err := writeKubeconfig(KubeconfigPath(cfg.DataDir), server, certs); err != nil {
		return err
	}
	rootCA, err := os.ReadFile(certs.CACert())
	if err != nil {
		return err
	}
	elected := &electedComponents{}
	srv.Generic.AddPreShutdownHookOrDie("corral-release-leases", func() error { elected.stop(); return nil })
	if !cfg.DisableControllers {
		srv.Generic.AddPostStartHookOrDie("corral-controllers", func(hookCtx genericapiserver.PostStartHookContext) error {
			ctx := elected.context(hookCtx)
			go func() {
				defer elected.done()
				if err := manager.Run(ctx, hookCtx.LoopbackClientConfig, manager.Options{ClusterCIDR: clusterCIDR, CronJobClock: cfg.CronJobClock,
					LocalPathRoot: localStoragePath(cfg), RootCA: rootCA, NodeMonitorGracePeriod: cfg.NodeMonitorGracePeriod,
					NodeEvictionRate: cfg.NodeEvictionRate, DefaultUnreachableToleration: &toleration}); err != nil {
					klog.ErrorS(err, "controller manager")
				}
			}()
			return nil
		})
	}
	if !cfg.DisableScheduler {
		srv.Generic.AddPostStartHookOrDie("corral-scheduler", func(hookCtx genericapiserver.PostStartHookContext) error {
			ctx := elected.context(hookCtx)
			go func() {
				defer elected.done()
				if err := runScheduler(ctx, hookCtx.LoopbackClientConfig); err != nil {
					klog.ErrorS(err, "scheduler")
				}
			}()
			return nil
		})
	}
	if !cfg.DisableAgent {
		srv.Generic.AddPostStartHookOrDie("corral-agent", func(hookCtx genericapiserver.PostStartHookContext) error {
			agentCfg := cfg.Agent
			client, err := kubernetes.NewForConfig(hookCtx.LoopbackClientConfig)
			if err != nil {
				return err
			}
			agentCfg.Client, agentCfg.DataDir, agentCfg.ClientCAFile = client, filepath.Join(cfg.DataDir, "agent"), certs.CACert()
			agentCfg.ClusterCIDR, agentCfg.ServiceCIDR = cfg.ClusterCIDR, cfg.ServiceCIDR
			go func() {
				if err := host.Run(hookCtx, agentCfg); err != nil {
					klog.ErrorS(err, "node agent stopped; the control plane runs on (use --disable-agent to run without one)")
				}
			}()
			return nil
		})
	}
	if cfg.Ready != nil {
		srv.Generic.AddPostStartHookOrDie("corral-ready", func(genericapiserver.PostStartHookContext) error {
			close(cfg.Ready)
			return nil
		})
	}
	return srv.Run(ctx)
}

func parsePortRange(s string) (base, size int, err error) {
	var lo, hi int
	if _, err := fmt.Sscanf(s, "%d-%d", &lo, &hi); err != nil {
		return 0, 0, fmt.Errorf("%q is not a range like 30000-32767", s)
	}
	if lo < 1 || hi > 65535 || hi < lo {
		return 0, 0, fmt.Errorf("%q is not a valid port range", s)
	}
	return lo, hi - lo + 1, nil
}

// advertiseAddress picks the address other machines reach this server on:
// the flag, else the bind address, else the first non-loopback address.
func advertiseAddress(flag string, bind net.IP) (net.IP, error) {
	if flag != "" {
		ip := net.ParseIP(flag)
		if ip == nil {
			return nil, fmt.Errorf("--advertise-address %q is not an IP address", flag)
		}
		return ip, nil
	}
	if !bind.IsUnspecified() {
		return bind, nil
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP, nil
		}
	}
	return net.ParseIP("127.0.0.1"), nil
}

// ensureToken returns the cluster join token: the flag's, else the one
// stored in the data dir, else a new random one, which is then stored.
func ensureToken(path, flag string) (string, error) {
	if flag != "" {
		return flag, writeFileAtomic(path, []byte(flag+"\n"), 0o600)
	}
	data, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(data)) != "" {
		return strings.TrimSpace(string(data)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	return token, writeFileAtomic(path, []byte(token+"\n"), 0o600)
}

// writeKubeconfig writes the admin kubeconfig (client certificate auth).
func writeKubeconfig(path, server string, certs pki) error {
	ca, err := os.ReadFile(certs.CACert())
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(certs.AdminCert())
	if err != nil {
		return err
	}
	key, err := os.ReadFile(certs.AdminKey())
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["corral"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["corral"] = &clientcmdapi.Context{Cluster: "corral", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "corral"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// runScheduler runs the scheduler while this server holds its lease. Its
// client has no rate limit: the scheduler's own bound on API calls in
// flight (BindConcurrency) limits it, and a client limit would cap the
// pods bound per second (at 500 QPS, binds and their events shared 500
// requests a second).
func runScheduler(ctx context.Context, config *restclient.Config) error {
	return manager.RunElected(ctx, config, manager.Options{LeaseName: "corral-scheduler", QPS: -1}, "corral-scheduler",
		func(ctx context.Context, kube kubernetes.Interface, _ *restclient.Config) error {
			factory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTransform(func(obj any) (any, error) {
				obj, _ = manager.StripManagedFields(obj)
				return scheduler.StripPod(obj)
			}))
			s := scheduler.New(kube, factory, scheduler.Options{})
			factory.Start(ctx.Done())
			go s.Run(ctx)
			return nil
		})
}
