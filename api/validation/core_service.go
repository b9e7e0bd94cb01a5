package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	serviceTypes = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort,
		corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName}
	sessionAffinities = []corev1.ServiceAffinity{corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP}
	externalPolicies  = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	internalPolicies  = []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
	ipFamilyPolicies  = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack}
	ipFamilies        = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
)

// maxClientIPAffinitySeconds is a day, upstream's cap on sticky sessions.
const maxClientIPAffinitySeconds = 86400

// The node port range explicit nodePorts must fall in; upstream's default
// --service-node-port-range unless the server sets its own.
var minNodePort, maxNodePort int32 = 30000, 32767

// SetNodePortRange tells validation the server's node port range
// (inclusive), so that explicit nodePorts are checked against it.
func SetNodePortRange(lo, hi int32) {
	minNodePort, maxNodePort = lo, hi
}

func validateService(svc *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	var errs field.ErrorList
	errs = append(errs, validateRequiredEnum(spec.Type, specPath.Child("type"), serviceTypes...)...)
	headless := spec.ClusterIP == corev1.ClusterIPNone
	external := spec.Type == corev1.ServiceTypeExternalName

	if len(spec.Ports) == 0 && !headless && !external {
		errs = append(errs, field.Required(specPath.Child("ports"), ""))
	}
	errs = append(errs, validateServicePorts(svc, specPath.Child("ports"))...)
	errs = append(errs, validateLabels(spec.Selector, specPath.Child("selector"))...)
	errs = append(errs, validateClusterIPs(spec, specPath)...)

	if external {
		ep := specPath.Child("externalName")
		if spec.ExternalName == "" {
			errs = append(errs, field.Required(ep, ""))
		} else {
			errs = append(errs, validateDNS1123Subdomain(strings.TrimSuffix(spec.ExternalName, "."), ep)...)
		}
	}

	errs = append(errs, validateRequiredEnum(spec.SessionAffinity, specPath.Child("sessionAffinity"), sessionAffinities...)...)
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		if c := spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
				errs = append(errs, field.Invalid(specPath.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t,
					fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds)))
			}
		}
	} else if spec.SessionAffinityConfig != nil {
		errs = append(errs, field.Invalid(specPath.Child("sessionAffinityConfig"), spec.SessionAffinityConfig,
			fmt.Sprintf("must not be set when session affinity is %s", spec.SessionAffinity)))
	}

	accessible := spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer ||
		(spec.Type == corev1.ServiceTypeClusterIP && len(spec.ExternalIPs) > 0)
	if spec.ExternalTrafficPolicy != "" {
		if !accessible {
			errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy,
				"may only be set for externally-accessible services"))
		} else {
			errs = append(errs, validateEnum(spec.ExternalTrafficPolicy, specPath.Child("externalTrafficPolicy"), externalPolicies...)...)
		}
	}
	if spec.InternalTrafficPolicy != nil {
		errs = append(errs, validateEnum(*spec.InternalTrafficPolicy, specPath.Child("internalTrafficPolicy"), internalPolicies...)...)
	}
	if spec.HealthCheckNodePort != 0 && (spec.Type != corev1.ServiceTypeLoadBalancer || spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal) {
		errs = append(errs, field.Invalid(specPath.Child("healthCheckNodePort"), spec.HealthCheckNodePort,
			"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
	}
	for i, ip := range spec.ExternalIPs {
		errs = append(errs, validateIP(ip, specPath.Child("externalIPs").Index(i))...)
	}
	if len(spec.LoadBalancerSourceRanges) > 0 && spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(specPath.Child("loadBalancerSourceRanges"), "may only be used when `type` is 'LoadBalancer'"))
	}
	for i, r := range spec.LoadBalancerSourceRanges {
		errs = append(errs, validateCIDR(strings.TrimSpace(r), specPath.Child("loadBalancerSourceRanges").Index(i))...)
	}
	if spec.AllocateLoadBalancerNodePorts != nil && spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	return errs
}

func validateServicePorts(svc *corev1.Service, p *field.Path) field.ErrorList {
	spec := &svc.Spec
	var errs field.ErrorList
	names := duplicates{}
	nodePorts := duplicates{}
	for i, port := range spec.Ports {
		ip := p.Index(i)
		if len(spec.Ports) > 1 && port.Name == "" {
			errs = append(errs, field.Required(ip.Child("name"), ""))
		} else if port.Name != "" {
			errs = append(errs, validateDNS1123Label(port.Name, ip.Child("name"))...)
			errs = append(errs, names.check(port.Name, ip.Child("name"))...)
		}
		errs = append(errs, validatePortNum(port.Port, ip.Child("port"))...)
		errs = append(errs, validateProtocol(port.Protocol, ip.Child("protocol"))...)
		errs = append(errs, validatePortNumOrName(port.TargetPort, ip.Child("targetPort"))...)
		if port.AppProtocol != nil {
			errs = append(errs, validateQualifiedName(*port.AppProtocol, ip.Child("appProtocol"))...)
		}
		if port.NodePort == 0 {
			continue
		}
		np := ip.Child("nodePort")
		switch {
		case spec.Type == corev1.ServiceTypeClusterIP || spec.Type == corev1.ServiceTypeExternalName:
			errs = append(errs, field.Forbidden(np, fmt.Sprintf("may not be used when `type` is '%s'", spec.Type)))
		case port.NodePort < minNodePort || port.NodePort > maxNodePort:
			errs = append(errs, field.Invalid(np, port.NodePort,
				fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", minNodePort, maxNodePort)))
		default:
			errs = append(errs, nodePorts.check(fmt.Sprintf("%d/%s", port.NodePort, port.Protocol), np)...)
		}
	}
	return errs
}

// validateClusterIPs checks the cluster IP fields and the IP family fields
// that go with them.
func validateClusterIPs(spec *corev1.ServiceSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	ipsPath := p.Child("clusterIPs")
	if spec.Type == corev1.ServiceTypeExternalName {
		if spec.ClusterIP != "" {
			errs = append(errs, field.Forbidden(p.Child("clusterIP"), "may not be set for ExternalName services"))
		}
		if len(spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(ipsPath, "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(p.Child("ipFamilyPolicy"), "may not be set when `type` is 'ExternalName'"))
		}
		if len(spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(p.Child("ipFamilies"), "may not be set when `type` is 'ExternalName'"))
		}
		return errs
	}
	if len(spec.ClusterIPs) > 0 && spec.ClusterIP != spec.ClusterIPs[0] {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "first value must match `clusterIP`"))
	}
	if len(spec.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may only hold up to 2 values"))
	}
	for i, ip := range spec.ClusterIPs {
		if ip == corev1.ClusterIPNone {
			if i > 0 || len(spec.ClusterIPs) > 1 {
				errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "'None' must be the first and only value"))
			} else if spec.Type != corev1.ServiceTypeClusterIP {
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
			}
			continue
		}
		errs = append(errs, validateIP(ip, ipsPath.Index(i))...)
	}
	if spec.ClusterIP == corev1.ClusterIPNone && len(spec.ClusterIPs) == 0 && spec.Type != corev1.ServiceTypeClusterIP {
		errs = append(errs, field.Invalid(p.Child("clusterIP"), spec.ClusterIP, fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
	}
	if spec.IPFamilyPolicy != nil {
		errs = append(errs, validateEnum(*spec.IPFamilyPolicy, p.Child("ipFamilyPolicy"), ipFamilyPolicies...)...)
		if *spec.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack && (len(spec.ClusterIPs) > 1 || len(spec.IPFamilies) > 1) {
			errs = append(errs, field.Invalid(p.Child("ipFamilyPolicy"), *spec.IPFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
		}
	}
	seen := duplicates{}
	for i, f := range spec.IPFamilies {
		fp := p.Child("ipFamilies").Index(i)
		errs = append(errs, validateEnum(f, fp, ipFamilies...)...)
		errs = append(errs, seen.check(string(f), fp)...)
	}
	return errs
}

// validateServiceUpdate keeps an allocated cluster IP: it can only be
// dropped by turning the service into an ExternalName one, or set when
// turning an ExternalName service back into one with a cluster IP.
func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	usesIP := func(s *corev1.Service) bool { return s.Spec.Type != corev1.ServiceTypeExternalName }
	if usesIP(svc) && usesIP(old) && old.Spec.ClusterIP != "" {
		if svc.Spec.ClusterIP != old.Spec.ClusterIP {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), svc.Spec.ClusterIP, "may not change once set"))
		}
		// A secondary IP may be added or dropped when changing dual-stack
		// policy, but an existing one may not be swapped.
		if len(old.Spec.ClusterIPs) > 1 && len(svc.Spec.ClusterIPs) > 1 && svc.Spec.ClusterIPs[1] != old.Spec.ClusterIPs[1] {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(1), svc.Spec.ClusterIPs[1], "may not change once set"))
		}
		if len(old.Spec.IPFamilies) > 0 && len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] != old.Spec.IPFamilies[0] {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilies").Index(0), svc.Spec.IPFamilies[0], "may not change once set"))
		}
	}
	return errs
}

func validateServiceStatusUpdate(svc, _ *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		ip := statusPath.Child("loadBalancer", "ingress").Index(i)
		if ing.IP != "" {
			errs = append(errs, validateIP(ing.IP, ip.Child("ip"))...)
		}
		if ing.Hostname != "" {
			errs = append(errs, validateDNS1123Subdomain(ing.Hostname, ip.Child("hostname"))...)
		}
	}
	return errs
}

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range ep.Subsets {
		sp := field.NewPath("subsets").Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(sp, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.Addresses {
			errs = append(errs, validateEndpointAddress(a, sp.Child("addresses").Index(j))...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validateEndpointAddress(a, sp.Child("notReadyAddresses").Index(j))...)
		}
		names := duplicates{}
		for j, port := range ss.Ports {
			pp := sp.Child("ports").Index(j)
			if len(ss.Ports) > 1 && port.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			} else if port.Name != "" {
				errs = append(errs, validateDNS1123Label(port.Name, pp.Child("name"))...)
				errs = append(errs, names.check(port.Name, pp.Child("name"))...)
			}
			errs = append(errs, validatePortNum(port.Port, pp.Child("port"))...)
			errs = append(errs, validateProtocol(port.Protocol, pp.Child("protocol"))...)
		}
	}
	return errs
}

func validateEndpointAddress(a corev1.EndpointAddress, p *field.Path) field.ErrorList {
	errs := validateIP(a.IP, p.Child("ip"))
	if a.Hostname != "" {
		errs = append(errs, invalidEach(p.Child("hostname"), a.Hostname, validation.IsDNS1123Label(a.Hostname))...)
	}
	if a.NodeName != nil {
		errs = append(errs, validateDNS1123Subdomain(*a.NodeName, p.Child("nodeName"))...)
	}
	return errs
}
