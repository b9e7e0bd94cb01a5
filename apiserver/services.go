package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/util/dryrun"
	"k8s.io/klog/v2"

	"corral/storage"
)

// serviceAllocations gives services their cluster IPs and node ports.
type serviceAllocations struct {
	ips   *storage.Allocator
	ports *storage.Allocator
}

var serviceKind = corev1.SchemeGroupVersion.WithKind("Service").GroupKind()

func needsClusterIP(s *corev1.Service) bool {
	return s.Spec.Type != corev1.ServiceTypeExternalName && s.Spec.ClusterIP != corev1.ClusterIPNone
}

func needsNodePorts(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// serviceHooks drop the allocated fields of a service that becomes an
// ExternalName, as upstream's strategy does, so that a patch setting only
// the type is valid.
var serviceHooks = hooks{
	prepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
		svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
		if svc.Spec.Type == corev1.ServiceTypeExternalName && oldSvc.Spec.Type != corev1.ServiceTypeExternalName {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
			svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy = nil, nil
			for i := range svc.Spec.Ports {
				svc.Spec.Ports[i].NodePort = 0
			}
		}
	},
}

func owner(s *corev1.Service) string { return s.Namespace + "/" + s.Name }

// install wires the allocations into the service store.
func (a *serviceAllocations) install(store *registry.Store) {
	store.BeginCreate = a.beginCreate
	store.BeginUpdate = a.beginUpdate
	store.AfterDelete = a.afterDelete
}

// transaction remembers what one request took, to give it back on failure.
type transaction struct {
	a        *serviceAllocations
	ips      []string
	ports    []string
	releases []func(context.Context)
}

func (t *transaction) finish(ctx context.Context, success bool) {
	if success {
		for _, r := range t.releases {
			r(ctx)
		}
		return
	}
	for _, ip := range t.ips {
		logRelease(t.a.ips.Release(ctx, ip))
	}
	for _, p := range t.ports {
		logRelease(t.a.ports.Release(ctx, p))
	}
}

func logRelease(err error) {
	if err != nil {
		klog.ErrorS(err, "releasing a service allocation")
	}
}

func (a *serviceAllocations) beginCreate(ctx context.Context, obj runtime.Object, options *metav1.CreateOptions) (registry.FinishFunc, error) {
	svc := obj.(*corev1.Service)
	t := &transaction{a: a}
	if dryrun.IsDryRun(options.DryRun) {
		return t.finish, nil
	}
	if err := t.allocate(ctx, svc, nil); err != nil {
		t.finish(ctx, false)
		return nil, err
	}
	return t.finish, nil
}

func (a *serviceAllocations) beginUpdate(ctx context.Context, obj, old runtime.Object, options *metav1.UpdateOptions) (registry.FinishFunc, error) {
	svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
	keepAllocatedValues(svc, oldSvc)
	t := &transaction{a: a}
	if dryrun.IsDryRun(options.DryRun) {
		return t.finish, nil
	}
	if err := t.allocate(ctx, svc, oldSvc); err != nil {
		t.finish(ctx, false)
		return nil, err
	}
	// Values the old object held and the new one dropped are freed once the update succeeds.
	if needsClusterIP(oldSvc) && oldSvc.Spec.ClusterIP != "" && !needsClusterIP(svc) {
		ip := oldSvc.Spec.ClusterIP
		t.releases = append(t.releases, func(ctx context.Context) { logRelease(a.ips.Release(ctx, ip)) })
	}
	kept := map[int32]bool{}
	if needsNodePorts(svc) {
		for _, p := range svc.Spec.Ports {
			kept[p.NodePort] = true
		}
	}
	for _, p := range oldSvc.Spec.Ports {
		if p.NodePort != 0 && !kept[p.NodePort] {
			port := fmt.Sprint(p.NodePort)
			t.releases = append(t.releases, func(ctx context.Context) { logRelease(a.ports.Release(ctx, port)) })
		}
	}
	return t.finish, nil
}

// keepAllocatedValues carries the cluster IP and node ports of the stored
// service into an update that leaves them out (kubectl replace, apply of
// a manifest without them), as upstream does.
func keepAllocatedValues(svc, old *corev1.Service) {
	if needsClusterIP(svc) && needsClusterIP(old) && svc.Spec.ClusterIP == "" {
		svc.Spec.ClusterIP = old.Spec.ClusterIP
		svc.Spec.ClusterIPs = old.Spec.ClusterIPs
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = old.Spec.IPFamilies
		}
	}
	if needsNodePorts(svc) && needsNodePorts(old) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, o := range old.Spec.Ports {
				if o.Port == p.Port && o.Protocol == p.Protocol {
					p.NodePort = o.NodePort
				}
			}
		}
	}
}

// allocate takes what svc needs and old (nil on create) does not hold yet.
func (t *transaction) allocate(ctx context.Context, svc, old *corev1.Service) error {
	if needsClusterIP(svc) && (old == nil || !needsClusterIP(old) || old.Spec.ClusterIP == "") {
		ip := svc.Spec.ClusterIP
		path := field.NewPath("spec", "clusterIPs").Index(0)
		if ip == "" {
			next, err := t.a.ips.AllocateNext(ctx, owner(svc))
			if err != nil {
				return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %w", err))
			}
			ip = next
			t.ips = append(t.ips, ip)
		} else if taken, err := t.take(ctx, t.a.ips, ip, svc); err != nil {
			return allocationError(svc, path, ip, err, t.a.ips.Range)
		} else if taken {
			t.ips = append(t.ips, ip)
		}
		svc.Spec.ClusterIP = ip
		svc.Spec.ClusterIPs = []string{ip}
		family := corev1.IPv4Protocol
		if net.ParseIP(ip).To4() == nil {
			family = corev1.IPv6Protocol
		}
		svc.Spec.IPFamilies = []corev1.IPFamily{family}
		if svc.Spec.IPFamilyPolicy == nil {
			single := corev1.IPFamilyPolicySingleStack
			svc.Spec.IPFamilyPolicy = &single
		}
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
	}
	if !needsNodePorts(svc) {
		return nil
	}
	held := map[int32]bool{}
	if old != nil && needsNodePorts(old) {
		for _, p := range old.Spec.Ports {
			held[p.NodePort] = true
		}
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
		switch {
		case p.NodePort == 0:
			next, err := t.a.ports.AllocateNext(ctx, owner(svc))
			if err != nil {
				return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %w", err))
			}
			t.ports = append(t.ports, next)
			var port int32
			fmt.Sscan(next, &port)
			p.NodePort = port
		case held[p.NodePort]:
		default:
			value := fmt.Sprint(p.NodePort)
			taken, err := t.take(ctx, t.a.ports, value, svc)
			if err != nil {
				return allocationError(svc, path, p.NodePort, err, t.a.ports.Range)
			}
			if taken {
				t.ports = append(t.ports, value)
			}
		}
		held[p.NodePort] = true
	}
	return nil
}

// take allocates a value the user asked for. A value this same service
// already holds (a repeated create, a restart's bootstrap) is not an error,
// and is not given back if the request fails.
func (t *transaction) take(ctx context.Context, a *storage.Allocator, value string, svc *corev1.Service) (bool, error) {
	err := a.Allocate(ctx, value, owner(svc))
	if errors.Is(err, storage.ErrAllocated) {
		if held, ownerErr := a.Owner(ctx, value); ownerErr == nil && held == owner(svc) {
			return false, nil
		}
	}
	return err == nil, err
}

func allocationError(svc *corev1.Service, path *field.Path, value interface{}, err error, valid string) error {
	var msg string
	switch {
	case errors.Is(err, storage.ErrAllocated):
		msg = "provided port is already allocated"
		if path.String() == "spec.clusterIPs[0]" {
			msg = "failed to allocate IP " + fmt.Sprint(value) + ": provided IP is already allocated"
		}
	case errors.Is(err, storage.ErrNotInRange):
		msg = "provided value is not in the valid range. The range of valid values is " + valid
	default:
		return apierrors.NewInternalError(err)
	}
	return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(path, value, msg)})
}

func (a *serviceAllocations) afterDelete(obj runtime.Object, options *metav1.DeleteOptions) {
	if dryrun.IsDryRun(options.DryRun) {
		return
	}
	svc := obj.(*corev1.Service)
	ctx := context.Background()
	if needsClusterIP(svc) && svc.Spec.ClusterIP != "" {
		logRelease(a.ips.Release(ctx, svc.Spec.ClusterIP))
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			logRelease(a.ports.Release(ctx, fmt.Sprint(p.NodePort)))
		}
	}
}
