// Package manager runs corral's controllers in one process, behind a
// leader-election Lease, so that with several servers exactly one set of
// controllers acts at a time.
package manager

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"corral/controllers/cronjob"
	"corral/controllers/daemonset"
	"corral/controllers/deployment"
	"corral/controllers/disruption"
	"corral/controllers/garbagecollector"
	"corral/controllers/job"
	"corral/controllers/localpath"
	"corral/controllers/namespace"
	"corral/controllers/nodeipam"
	"corral/controllers/nodelifecycle"
	"corral/controllers/podgc"
	"corral/controllers/replicaset"
	"corral/controllers/rootcacert"
	"corral/controllers/serviceaccount"
	"corral/controllers/statefulset"
)

// Clients are what every controller needs from the API server.
type Clients struct {
	Kube      kubernetes.Interface
	Metadata  metadata.Interface
	Informers informers.SharedInformerFactory
	Clock     clock.WithTicker
	Options   Options
}

// starter starts one controller; it returns once the controller runs.
type starter struct {
	name  string
	start func(ctx context.Context, c Clients) error
}

// starters lists the controllers in start order.
var starters = []starter{
	{"namespace", func(ctx context.Context, c Clients) error {
		ctrl := namespace.NewController(c.Kube, c.Metadata, c.Kube.Discovery(), c.Informers.Core().V1().Namespaces())
		go ctrl.Run(ctx, 2)
		return nil
	}},
	{"serviceaccount", func(ctx context.Context, c Clients) error {
		ctrl := serviceaccount.NewController(c.Kube, c.Informers.Core().V1().Namespaces(), c.Informers.Core().V1().ServiceAccounts())
		go ctrl.Run(ctx, 1)
		return nil
	}},
	{"root-ca-cert-publisher", func(ctx context.Context, c Clients) error {
		if len(c.Options.RootCA) == 0 {
			return nil // nothing to publish (a manager run without the cluster CA)
		}
		ctrl, err := rootcacert.NewController(c.Kube, c.Options.RootCA, c.Informers.Core().V1().Namespaces(), c.Informers.Core().V1().ConfigMaps())
		if err != nil {
			return err
		}
		go ctrl.Run(ctx, 1)
		return nil
	}},
	{"replicaset", func(ctx context.Context, c Clients) error {
		ctrl := replicaset.NewController(c.Kube, c.Informers.Apps().V1().ReplicaSets(), c.Informers.Core().V1().Pods(), c.Clock)
		go ctrl.Run(ctx, 5)
		return nil
	}},
	{"deployment", func(ctx context.Context, c Clients) error {
		ctrl := deployment.NewController(c.Kube, c.Informers.Apps().V1().Deployments(), c.Informers.Apps().V1().ReplicaSets(),
			c.Informers.Core().V1().Pods(), c.Clock)
		go ctrl.Run(ctx, 5)
		return nil
	}},
	{"daemonset", func(ctx context.Context, c Clients) error {
		ctrl := daemonset.NewController(c.Kube, c.Informers.Apps().V1().DaemonSets(), c.Informers.Apps().V1().ControllerRevisions(),
			c.Informers.Core().V1().Pods(), c.Informers.Core().V1().Nodes(), c.Clock)
		go ctrl.Run(ctx, 2)
		return nil
	}},
	{"statefulset", func(ctx context.Context, c Clients) error {
		ctrl := statefulset.NewController(c.Kube, c.Informers.Apps().V1().StatefulSets(), c.Informers.Apps().V1().ControllerRevisions(),
			c.Informers.Core().V1().Pods(), c.Informers.Core().V1().PersistentVolumeClaims(), c.Clock)
		go ctrl.Run(ctx, 2)
		return nil
	}},
	{"local-path-provisioner", func(ctx context.Context, c Clients) error {
		core := c.Informers.Core().V1()
		ctrl := localpath.NewController(c.Kube, core.PersistentVolumeClaims(), core.PersistentVolumes(),
			c.Informers.Storage().V1().StorageClasses(), core.Pods(), localpath.Options{Root: c.Options.LocalPathRoot}, c.Clock)
		go ctrl.Run(ctx, 2)
		return nil
	}},
	{"node-ipam", func(ctx context.Context, c Clients) error {
		ctrl, err := nodeipam.NewController(c.Kube, c.Informers.Core().V1().Nodes(), c.Options.ClusterCIDR, c.Options.NodeCIDRMaskSize)
		if err != nil {
			return err
		}
		go ctrl.Run(ctx, 1)
		return nil
	}},
	{"node-lifecycle", func(ctx context.Context, c Clients) error {
		opts := nodelifecycle.DefaultOptions()
		if c.Options.NodeMonitorGracePeriod > 0 {
			opts.GracePeriod = c.Options.NodeMonitorGracePeriod
		}
		if c.Options.NodeEvictionRate > 0 {
			opts.EvictionRate = c.Options.NodeEvictionRate
		}
		if c.Options.DefaultUnreachableToleration != nil {
			opts.DefaultUnreachableToleration = *c.Options.DefaultUnreachableToleration
		}
		ctrl := nodelifecycle.NewController(c.Kube, c.Informers.Core().V1().Nodes(), c.Informers.Coordination().V1().Leases(),
			c.Informers.Core().V1().Pods(), opts, c.Clock)
		go ctrl.Run(ctx, 4)
		return nil
	}},
	{"pod-gc", func(ctx context.Context, c Clients) error {
		ctrl := podgc.NewController(c.Kube, c.Informers.Core().V1().Pods(), c.Informers.Core().V1().Nodes(), podgc.DefaultOptions(), c.Clock)
		go ctrl.Run(ctx, 4)
		return nil
	}},
	{"job", func(ctx context.Context, c Clients) error {
		ctrl := job.NewController(c.Kube, c.Informers.Batch().V1().Jobs(), c.Informers.Core().V1().Pods(), c.Clock)
		go ctrl.Run(ctx, 5)
		return nil
	}},
	{"cronjob", func(ctx context.Context, c Clients) error {
		clk := c.Clock
		if c.Options.CronJobClock != nil {
			clk = c.Options.CronJobClock
		}
		ctrl := cronjob.NewController(c.Kube, c.Informers.Batch().V1().CronJobs(), c.Informers.Batch().V1().Jobs(), clk)
		go ctrl.Run(ctx, 2)
		return nil
	}},
	{"disruption", func(ctx context.Context, c Clients) error {
		ctrl := disruption.NewController(c.Kube, c.Informers.Policy().V1().PodDisruptionBudgets(), c.Informers.Core().V1().Pods(),
			c.Informers.Apps().V1().ReplicaSets(), c.Informers.Apps().V1().Deployments(), c.Informers.Apps().V1().StatefulSets(), c.Clock)
		go ctrl.Run(ctx, 2)
		return nil
	}},
	{"garbage-collector", func(ctx context.Context, c Clients) error {
		ctrl, err := garbagecollector.NewController(c.Metadata, c.Kube.Discovery(), c.Clock)
		if err != nil {
			return err
		}
		go ctrl.Run(ctx, 4)
		return nil
	}},
}

// Options configure the manager.
type Options struct {
	// LeaseNamespace and LeaseName name the election lease.
	LeaseNamespace, LeaseName string
	// Identity of this process in the election (default host name + uuid).
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod as in client-go.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// QPS and Burst limit the elected component's API client (default
	// 500 and 1,000; a negative QPS means no limit). In-process clients
	// are system:masters, which the server's in-flight limits exempt, so
	// this limit is what keeps a runaway controller from crowding out
	// everyone else.
	QPS   float32
	Burst int

	// ClusterCIDR is split into per-node pod CIDRs of NodeCIDRMaskSize bits.
	ClusterCIDR      *net.IPNet
	NodeCIDRMaskSize int
	// NodeMonitorGracePeriod (a node without Lease renewals this long is
	// unreachable) and NodeEvictionRate (nodes tainted NoExecute per
	// second) replace the node lifecycle defaults when positive.
	NodeMonitorGracePeriod time.Duration
	NodeEvictionRate       float64
	// DefaultUnreachableToleration, when set, is how long pods without a
	// toleration for an unreachable or not-ready node stay on it.
	DefaultUnreachableToleration *time.Duration
	// LocalPathRoot is the directory on each node under which the
	// local-path provisioner makes volumes (default
	// localpath.DefaultRoot); the node agent creates it on first mount.
	LocalPathRoot string
	// RootCA is the cluster CA (PEM) published in every namespace as the
	// ConfigMap kube-root-ca.crt.
	RootCA []byte
	// CronJobClock, when set, drives the CronJob controller alone (tests
	// step a fake clock past schedules); the others keep the real clock.
	CronJobClock clock.WithTicker
}

func (o *Options) defaults() {
	if o.LeaseNamespace == "" {
		o.LeaseNamespace = "kube-system"
	}
	if o.LeaseName == "" {
		o.LeaseName = "corral-controller-manager"
	}
	if o.Identity == "" {
		host, _ := os.Hostname()
		o.Identity = host + "_" + string(uuid.NewUUID())
	}
	if o.LeaseDuration == 0 {
		o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 15*time.Second, 10*time.Second, 2*time.Second
	}
	if o.QPS == 0 {
		o.QPS, o.Burst = 500, 1000
	}
}

// Run campaigns for the lease and runs the controllers while it is held.
// It returns when ctx ends; losing the lease stops the controllers.
func Run(ctx context.Context, config *restclient.Config, opts Options) error {
	opts.defaults()
	return RunElected(ctx, config, opts, "corral-controller-manager", func(ctx context.Context, kube kubernetes.Interface, cfg *restclient.Config) error {
		md, err := metadata.NewForConfig(cfg)
		if err != nil {
			return err
		}
		factory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTransform(StripManagedFields))
		return startAll(ctx, Clients{Kube: kube, Metadata: md, Informers: factory,
			Clock: clock.RealClock{}, Options: opts})
	})
}

// RunElected runs lead (which must return once its work is started, and
// stop when its ctx ends) whenever this process holds the lease
// opts.LeaseNamespace/opts.LeaseName, campaigning again after losing it.
func RunElected(ctx context.Context, config *restclient.Config, opts Options, userAgent string,
	lead func(ctx context.Context, kube kubernetes.Interface, cfg *restclient.Config) error) error {
	opts.defaults()
	cfg := restclient.CopyConfig(config)
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	cfg.UserAgent = userAgent
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, opts.LeaseNamespace, opts.LeaseName,
		kube.CoreV1(), kube.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: opts.Identity})
	if err != nil {
		return err
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true, Name: opts.LeaseName,
		LeaseDuration: opts.LeaseDuration, RenewDeadline: opts.RenewDeadline, RetryPeriod: opts.RetryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				if err := lead(ctx, kube, cfg); err != nil {
					klog.ErrorS(err, "starting elected component", "lease", opts.LeaseName)
				}
			},
			OnStoppedLeading: func() { klog.InfoS("lease lost or released", "lease", opts.LeaseName, "identity", opts.Identity) },
		},
	})
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		elector.Run(ctx) // returns when leadership is lost; campaign again
	}
	return nil
}

func startAll(ctx context.Context, c Clients) error {
	for _, s := range starters {
		if err := s.start(ctx, c); err != nil {
			return fmt.Errorf("%s controller: %w", s.name, err)
		}
	}
	c.Informers.Start(ctx.Done())
	return nil
}

// StripManagedFields drops metadata.managedFields from objects entering an
// informer cache, as kube-controller-manager does: no controller reads
// them and they are a large share of each cached object. Updates without
// managedFields keep the stored ones.
func StripManagedFields(obj interface{}) (interface{}, error) {
	if m, err := meta.Accessor(obj); err == nil && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
