package cli

import (
	"context"
	goflag "flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"corral/server"
	"corral/version"
)

// Execute runs the corral command line.
func Execute() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRoot()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}

// NewRoot builds the command tree.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "corral",
		Short:         "corral: a lightweight container orchestrator that speaks the Kubernetes API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// -v sets the log verbosity, as kube components' -v does (klog's flag).
	klogFlags := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(klogFlags)
	root.PersistentFlags().AddGoFlag(klogFlags.Lookup("v"))
	root.AddCommand(newServerCommand(), newAgentCommand(), newVersionCommand(), newImageCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print corral's version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "corral %s (Kubernetes API v1.37.2)\n", version.Version)
		},
	}
}

func newServerCommand() *cobra.Command {
	cfg := server.Defaults()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (API server on embedded or external etcd)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Version = version.Version
			if !cfg.DisableAgent && os.Geteuid() != 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "note: the node agent needs root (containerd, CNI, cgroups); running the control plane only (as with --disable-agent)")
				cfg.DisableAgent = true
			}
			return server.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for etcd data, certificates, token and kubeconfig")
	f.StringVar(&cfg.BindAddress, "bind-address", cfg.BindAddress, "address the API server listens on")
	f.IntVar(&cfg.HTTPSPort, "https-listen-port", cfg.HTTPSPort, "HTTPS port of the API server")
	f.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "address other machines reach this server on (default: bind address or first non-loopback address)")
	f.StringSliceVar(&cfg.DatastoreEndpoint, "datastore-endpoint", nil, "external etcd endpoints (comma separated) instead of the embedded etcd")
	f.StringVar(&cfg.DatastoreCAFile, "datastore-cafile", "", "CA file for TLS to the external etcd")
	f.StringVar(&cfg.DatastoreCertFile, "datastore-certfile", "", "client certificate for TLS to the external etcd")
	f.StringVar(&cfg.DatastoreKeyFile, "datastore-keyfile", "", "client key for TLS to the external etcd")
	f.IntVar(&cfg.EtcdClientPort, "etcd-client-port", cfg.EtcdClientPort, "client port of the embedded etcd (loopback only)")
	f.IntVar(&cfg.EtcdPeerPort, "etcd-peer-port", cfg.EtcdPeerPort, "peer port of the embedded etcd (loopback only)")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", cfg.ServiceCIDR, "range of service cluster IPs")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", cfg.ClusterCIDR, "range of pod IPs")
	f.StringVar(&cfg.NodePortRange, "service-node-port-range", cfg.NodePortRange, "range of service node ports")
	f.StringVar(&cfg.Token, "token", "", "cluster join token (default: generated on first start, kept in <data-dir>/token)")
	f.StringSliceVar(&cfg.TLSSANs, "tls-san", nil, "extra host names or IPs for the serving certificate")
	f.BoolVar(&cfg.DisableAgent, "disable-agent", false, "run the control plane without a local node agent")
	f.StringVar(&cfg.Agent.NodeName, "node-name", "", "name of this server's node (default: host name)")
	f.StringVar(&cfg.Agent.NodeIP, "node-ip", "", "address of this server's node (default: first non-loopback IPv4)")
	f.IntVar(&cfg.Agent.AgentPort, "agent-port", 10250, "port of the node agent's API (logs, exec, port-forward)")
	f.StringVar(&cfg.Agent.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "use this CRI socket instead of starting containerd")
	f.StringVar(&cfg.Agent.CNIBridge, "cni-bridge", "corral0", "name of the pods' bridge")
	f.BoolVar(&cfg.DisableControllers, "disable-controllers", false, "run without the controller manager")
	f.StringVar(&cfg.LocalStoragePath, "default-local-storage-path", "", "directory on the nodes for local-path persistent volumes (default <data-dir>/storage)")
	f.BoolVar(&cfg.DisableScheduler, "disable-scheduler", false, "run without the scheduler")
	f.DurationVar(&cfg.NodeMonitorGracePeriod, "node-monitor-grace-period", cfg.NodeMonitorGracePeriod, "a node whose Lease is not renewed for this long becomes Ready=Unknown and is tainted unreachable (agents renew every 2.5 s)")
	f.IntVar(&cfg.DefaultUnreachableTolerationSeconds, "default-unreachable-toleration-seconds", cfg.DefaultUnreachableTolerationSeconds, "how long pods without their own toleration stay on an unreachable or not-ready node before eviction")
	f.Float64Var(&cfg.NodeEvictionRate, "node-eviction-rate", cfg.NodeEvictionRate, "nodes per second whose pods may be evicted (guards against a network blip evicting everything)")
	return cmd
}
