package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"

	"corral/agent"
	"corral/agent/host"
	"corral/server"
)

// agentFlags are the flags of `corral agent`.
type agentFlags struct {
	server, token, caFile, nodeName string
	insecure, simulate              bool
	labels                          map[string]string
	qps                             float32
	burst                           int

	// The real node (host.Run).
	node host.Config

	// Simulated nodes (--simulate).
	zones                         string
	nodes                         int
	cpu, memory, storage          string
	pods, gpus                    int64
	startDelay, jobRunFor         time.Duration
	leaseDuration, statusInterval time.Duration
	podWorkers                    int
}

func newAgentCommand() *cobra.Command {
	var o agentFlags
	defaults := server.Defaults()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Join a cluster as a node",
		Long: `Join a cluster as a node.

Runs this machine's node agent: it prepares the node's network (blackhole
routes for --cluster-cidr and --service-cidr, so pod and service traffic
never leaves through the default route), starts and supervises its own
containerd under --data-dir (or uses --container-runtime-endpoint),
imports the built-in pause image and the tarballs in <data-dir>/images,
registers the node, and runs the pods the scheduler binds to it through
CRI, with pod addresses on the --cni-bridge bridge from the pod CIDR the
server's node IPAM assigns. Its HTTPS API (logs, exec, attach,
port-forward) listens on --bind-address:--agent-port and accepts only
clients with a certificate signed by the cluster CA (--ca-file): the API
server. Give each agent on one machine its own --data-dir, --node-name,
--node-ip or --agent-port, and --cni-bridge.

--cluster-cidr and --service-cidr must be the server's values (the API
does not tell agents its ranges).

With --simulate, runs --nodes simulated nodes in this process instead:
they register, renew their leases and run the pods bound to them with a
simulated runtime (annotations sim.corral.dev/* steer crashes, readiness
and durations; see agent/runtime/simulated).

TLS: pass the server's CA (<server data dir>/tls/ca.crt) with --ca-file.
Without it (simulated nodes only) the system roots are used, unless
--insecure turns verification off (tests only). The CA is never fetched
from the server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.server == "" || o.token == "" {
				return errors.New("--server and --token are required (the token is <server data dir>/token)")
			}
			if o.nodeName == "" {
				h, err := os.Hostname()
				if err != nil {
					return err
				}
				o.nodeName = strings.ToLower(h)
			}
			if o.simulate {
				return runSimulated(cmd, o)
			}
			return runNode(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "API server URL, e.g. https://10.0.0.1:6443")
	f.StringVar(&o.token, "token", "", "cluster join token (<server data dir>/token)")
	f.StringVar(&o.caFile, "ca-file", "", "CA certificate of the cluster (<server data dir>/tls/ca.crt); required without --simulate")
	f.BoolVar(&o.insecure, "insecure", false, "do not verify the server's certificate (simulated nodes, tests only; ignored with --ca-file)")
	f.StringVar(&o.nodeName, "node-name", "", "node name, or the name prefix with --nodes > 1 (default: host name)")
	f.StringToStringVar(&o.labels, "node-labels", nil, "extra node labels (k=v,...)")
	f.Float32Var(&o.qps, "kube-api-qps", 0, "client requests per second (default 50; simulated: 100 + 2 per node)")
	f.IntVar(&o.burst, "kube-api-burst", 0, "client burst (default 2 x qps)")

	f.StringVar(&o.node.DataDir, "data-dir", defaultAgentDataDir(), "directory for containerd's state, pod volumes and logs, images to import (<data-dir>/images) and the CNI config")
	f.StringVar(&o.node.NodeIP, "node-ip", "", "address of this node (default: first non-loopback IPv4)")
	f.StringVar(&o.node.BindAddress, "bind-address", "", "address the agent's API listens on (default: --node-ip)")
	f.IntVar(&o.node.AgentPort, "agent-port", 10250, "port of the node agent's API (logs, exec, port-forward)")
	f.StringVar(&o.node.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "use this CRI socket instead of starting containerd")
	f.StringVar(&o.node.CNIBridge, "cni-bridge", "corral0", "name of the pods' bridge (at most 15 bytes)")
	f.StringVar(&o.node.ClusterCIDR, "cluster-cidr", defaults.ClusterCIDR, "the server's range of pod IPs (routed to a blackhole on this node)")
	f.StringVar(&o.node.ServiceCIDR, "service-cidr", defaults.ServiceCIDR, "the server's range of service cluster IPs (routed to a sink on this node)")

	f.BoolVar(&o.simulate, "simulate", false, "run simulated nodes (no containers)")
	f.IntVar(&o.nodes, "nodes", 1, "number of simulated nodes in this process")
	f.StringVar(&o.zones, "zone", "", "topology.kubernetes.io/zone of simulated nodes; a comma-separated list is assigned round-robin")
	f.StringVar(&o.cpu, "cpu", "4", "cpu capacity per simulated node")
	f.StringVar(&o.memory, "memory", "8Gi", "memory capacity per simulated node")
	f.StringVar(&o.storage, "ephemeral-storage", "100Gi", "ephemeral-storage capacity per simulated node")
	f.Int64Var(&o.pods, "pods", 110, "pods capacity per simulated node")
	f.Int64Var(&o.gpus, "gpus", 0, "nvidia.com/gpu capacity per simulated node")
	f.DurationVar(&o.startDelay, "sim-start-delay", 200*time.Millisecond, "how long simulated containers take to start")
	f.DurationVar(&o.jobRunFor, "sim-job-duration", time.Second, "how long simulated containers of restartPolicy Never/OnFailure pods run")
	f.DurationVar(&o.leaseDuration, "lease-duration", 10*time.Second, "node Lease duration of simulated nodes; renewed every quarter of it")
	f.DurationVar(&o.statusInterval, "node-status-interval", time.Minute, "how often simulated nodes post their status")
	f.IntVar(&o.podWorkers, "pod-workers", 0, "pods synced in parallel by simulated nodes (default 32, or one per 4 nodes when more)")
	return cmd
}

// restConfig is the agent's client configuration: the join token, and the
// cluster CA (or, for simulated nodes, the system roots or no check).
func (o agentFlags) restConfig(defaultQPS float32) *restclient.Config {
	// Protobuf, as kubelet: every pod status write and lease renewal is
	// cheaper to encode and decode on both sides.
	rc := &restclient.Config{Host: o.server, BearerToken: o.token, UserAgent: "corral-agent",
		TLSClientConfig: restclient.TLSClientConfig{CAFile: o.caFile, Insecure: o.insecure && o.caFile == ""},
		ContentConfig: restclient.ContentConfig{ContentType: runtime.ContentTypeProtobuf,
			AcceptContentTypes: runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON}}
	rc.QPS, rc.Burst = o.qps, o.burst
	if rc.QPS <= 0 {
		rc.QPS = defaultQPS
	}
	if rc.Burst <= 0 {
		rc.Burst = int(2 * rc.QPS)
	}
	return rc
}

// runNode runs this machine's real node agent until the command's context
// ends (SIGINT, SIGTERM). Pods keep running when it stops: a restarted
// agent adopts them.
func runNode(cmd *cobra.Command, o agentFlags) error {
	if o.caFile == "" {
		return errors.New("--ca-file is required: the agent verifies the server with the cluster CA, and only clients it signed (the API server) may use the agent's API")
	}
	if os.Geteuid() != 0 {
		return errors.New("the node agent needs root (containerd, CNI, cgroups); use --simulate for simulated nodes")
	}
	pem, err := os.ReadFile(o.caFile)
	if err != nil {
		return fmt.Errorf("--ca-file: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return fmt.Errorf("--ca-file %s: no PEM certificates", o.caFile)
	}
	client, err := kubernetes.NewForConfig(o.restConfig(50))
	if err != nil {
		return err
	}
	// A rejected token never starts working: say so before touching the
	// node. An unreachable server may come up later; the agent retries.
	ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
	err = client.CoreV1().RESTClient().Get().AbsPath("/version").Do(ctx).Error()
	cancel()
	switch {
	case apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err):
		return fmt.Errorf("the server rejected the join token: %w", err)
	case err != nil:
		fmt.Fprintf(cmd.ErrOrStderr(), "corral agent: server %s not reachable yet (%v); retrying\n", o.server, err)
	}
	cfg := o.node
	cfg.Client, cfg.NodeName, cfg.Labels, cfg.ClientCAFile = client, o.nodeName, o.labels, o.caFile
	fmt.Fprintf(cmd.ErrOrStderr(), "corral agent: node %s joining %s (data dir %s)\n", cfg.NodeName, o.server, cfg.DataDir)
	return host.Run(cmd.Context(), cfg)
}

// runSimulated runs --nodes simulated nodes in this process.
func runSimulated(cmd *cobra.Command, o agentFlags) error {
	sim := agent.SimulatedNodes{Count: o.nodes, Name: o.nodeName, Labels: o.labels, Pods: o.pods, GPUs: o.gpus,
		StartDelay: o.startDelay, JobRunFor: o.jobRunFor}
	for _, z := range strings.Split(o.zones, ",") {
		if z = strings.TrimSpace(z); z != "" {
			sim.Zones = append(sim.Zones, z)
		}
	}
	var err error
	for _, q := range []struct {
		flag, v string
		into    *resource.Quantity
	}{{"cpu", o.cpu, &sim.CPU}, {"memory", o.memory, &sim.Memory}, {"ephemeral-storage", o.storage, &sim.EphemeralStorage}} {
		if *q.into, err = resource.ParseQuantity(q.v); err != nil {
			return fmt.Errorf("--%s: %w", q.flag, err)
		}
	}
	configs, err := sim.NodeConfigs()
	if err != nil {
		return err
	}
	// One client for every node: leases alone are nodes/renew-interval writes per second.
	client, err := kubernetes.NewForConfig(o.restConfig(float32(100 + 2*len(configs))))
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Options{Client: client, Nodes: configs, LeaseDuration: o.leaseDuration,
		StatusInterval: o.statusInterval, PodWorkers: o.podWorkers})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "corral agent: %d simulated node(s) joining %s\n", len(configs), o.server)
	return a.Run(cmd.Context())
}
