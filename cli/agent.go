package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"

	"corral/agent"
)

func newAgentCommand() *cobra.Command {
	var (
		server, token, caFile, nodeName, zones string
		insecure, simulate                     bool
		nodes                                  int
		cpu, memory, storage                   string
		pods, gpus                             int64
		labels                                 map[string]string
		startDelay, jobRunFor                  time.Duration
		leaseDuration, statusInterval          time.Duration
		qps                                    float32
		burst, podWorkers                      int
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Join a cluster as a node (today only simulated nodes: --simulate)",
		Long: `Join a cluster as a node.

With --simulate, runs --nodes simulated nodes in this process: they register,
renew their leases and run the pods bound to them with a simulated runtime
(annotations sim.corral.dev/* steer crashes, readiness and durations; see
agent/runtime/simulated). The real node agent on containerd is issue C.

TLS: pass the server's CA (<server data dir>/tls/ca.crt) with --ca-file.
Without it the system roots are used, unless --insecure turns verification
off (tests only). The CA is never fetched from the server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !simulate {
				return errors.New("the real node agent (CRI) is issue C and has not landed; use --simulate")
			}
			if server == "" || token == "" {
				return errors.New("--server and --token are required")
			}
			if nodeName == "" {
				h, err := os.Hostname()
				if err != nil {
					return err
				}
				nodeName = strings.ToLower(h)
			}
			sim := agent.SimulatedNodes{Count: nodes, Name: nodeName, Labels: labels, Pods: pods, GPUs: gpus,
				StartDelay: startDelay, JobRunFor: jobRunFor}
			for _, z := range strings.Split(zones, ",") {
				if z = strings.TrimSpace(z); z != "" {
					sim.Zones = append(sim.Zones, z)
				}
			}
			var err error
			for _, q := range []struct {
				flag, v string
				into    *resource.Quantity
			}{{"cpu", cpu, &sim.CPU}, {"memory", memory, &sim.Memory}, {"ephemeral-storage", storage, &sim.EphemeralStorage}} {
				if *q.into, err = resource.ParseQuantity(q.v); err != nil {
					return fmt.Errorf("--%s: %w", q.flag, err)
				}
			}
			configs, err := sim.NodeConfigs()
			if err != nil {
				return err
			}
			rc := &restclient.Config{Host: server, BearerToken: token, UserAgent: "corral-agent",
				TLSClientConfig: restclient.TLSClientConfig{CAFile: caFile, Insecure: insecure && caFile == ""}}
			// One client for every node: leases alone are nodes/renew-interval writes per second.
			rc.QPS, rc.Burst = qps, burst
			if rc.QPS <= 0 {
				rc.QPS = float32(100 + 2*nodes)
			}
			if rc.Burst <= 0 {
				rc.Burst = int(2 * rc.QPS)
			}
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			a, err := agent.New(agent.Options{Client: client, Nodes: configs, LeaseDuration: leaseDuration,
				StatusInterval: statusInterval, PodWorkers: podWorkers})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "corral agent: %d simulated node(s) joining %s\n", len(configs), server)
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "API server URL, e.g. https://10.0.0.1:6443")
	f.StringVar(&token, "token", "", "cluster join token (<server data dir>/token)")
	f.StringVar(&caFile, "ca-file", "", "CA certificate of the server (<server data dir>/tls/ca.crt)")
	f.BoolVar(&insecure, "insecure", false, "do not verify the server's certificate (tests only; ignored with --ca-file)")
	f.BoolVar(&simulate, "simulate", false, "run simulated nodes (no containers)")
	f.IntVar(&nodes, "nodes", 1, "number of simulated nodes in this process")
	f.StringVar(&nodeName, "node-name", "", "node name, or the name prefix with --nodes > 1 (default: host name)")
	f.StringVar(&zones, "zone", "", "topology.kubernetes.io/zone; a comma-separated list is assigned round-robin")
	f.StringToStringVar(&labels, "node-labels", nil, "extra node labels (k=v,...)")
	f.StringVar(&cpu, "cpu", "4", "cpu capacity per node")
	f.StringVar(&memory, "memory", "8Gi", "memory capacity per node")
	f.StringVar(&storage, "ephemeral-storage", "100Gi", "ephemeral-storage capacity per node")
	f.Int64Var(&pods, "pods", 110, "pods capacity per node")
	f.Int64Var(&gpus, "gpus", 0, "nvidia.com/gpu capacity per node")
	f.DurationVar(&startDelay, "sim-start-delay", 200*time.Millisecond, "how long simulated containers take to start")
	f.DurationVar(&jobRunFor, "sim-job-duration", time.Second, "how long containers of restartPolicy Never/OnFailure pods run")
	f.DurationVar(&leaseDuration, "lease-duration", 10*time.Second, "node Lease duration; renewed every quarter of it")
	f.DurationVar(&statusInterval, "node-status-interval", time.Minute, "how often node status is posted")
	f.Float32Var(&qps, "kube-api-qps", 0, "client requests per second for all nodes (default 100 + 2 per node)")
	f.IntVar(&burst, "kube-api-burst", 0, "client burst (default 2 x qps)")
	f.IntVar(&podWorkers, "pod-workers", 32, "pods synced in parallel")
	return cmd
}
