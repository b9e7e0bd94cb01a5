package validation

import (
	"fmt"
	"net/netip"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var pathTypes = []networkingv1.PathType{networkingv1.PathTypeExact, networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific}

func validateIngress(ing *networkingv1.Ingress) field.ErrorList {
	spec := &ing.Spec
	var errs field.ErrorList
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		errs = append(errs, field.Invalid(specPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.IngressClassName != nil {
		errs = append(errs, validateDNS1123Subdomain(*spec.IngressClassName, specPath.Child("ingressClassName"))...)
	}
	if spec.DefaultBackend != nil {
		errs = append(errs, validateIngressBackend(spec.DefaultBackend, specPath.Child("defaultBackend"))...)
	}
	for i, r := range spec.Rules {
		rp := specPath.Child("rules").Index(i)
		if r.Host != "" {
			errs = append(errs, validateIngressHost(r.Host, rp.Child("host"))...)
		}
		if r.HTTP == nil {
			continue
		}
		pp := rp.Child("http", "paths")
		if len(r.HTTP.Paths) == 0 {
			errs = append(errs, field.Required(pp, ""))
		}
		for j := range r.HTTP.Paths {
			errs = append(errs, validateIngressPath(&r.HTTP.Paths[j], pp.Index(j))...)
		}
	}
	for i, t := range spec.TLS {
		tp := specPath.Child("tls").Index(i)
		for j, h := range t.Hosts {
			errs = append(errs, validateIngressHost(h, tp.Child("hosts").Index(j))...)
		}
		if t.SecretName != "" {
			errs = append(errs, validateDNS1123Subdomain(t.SecretName, tp.Child("secretName"))...)
		}
	}
	return errs
}

// validateIngressHost allows a leading "*." wildcard label but no IPs.
func validateIngressHost(h string, p *field.Path) field.ErrorList {
	if _, err := netip.ParseAddr(h); err == nil {
		return field.ErrorList{field.Invalid(p, h, "must be a DNS name, not an IP address")}
	}
	if strings.HasPrefix(h, "*.") {
		return invalidEach(p, h, validation.IsWildcardDNS1123Subdomain(h))
	}
	return validateDNS1123Subdomain(h, p)
}

// invalidPathSequences would be normalised away by proxies, making the
// routing ambiguous.
var invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}

func validateIngressPath(hp *networkingv1.HTTPIngressPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if hp.PathType == nil {
		errs = append(errs, field.Required(p.Child("pathType"), "pathType must be specified"))
	} else {
		errs = append(errs, validateEnum(*hp.PathType, p.Child("pathType"), pathTypes...)...)
		switch *hp.PathType {
		case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
			if !strings.HasPrefix(hp.Path, "/") {
				errs = append(errs, field.Invalid(p.Child("path"), hp.Path, "must be an absolute path"))
			}
			for _, seq := range invalidPathSequences {
				if strings.Contains(hp.Path, seq) {
					errs = append(errs, field.Invalid(p.Child("path"), hp.Path, fmt.Sprintf("must not contain '%s'", seq)))
				}
			}
			for _, suffix := range []string{"/..", "/."} {
				if strings.HasSuffix(hp.Path, suffix) {
					errs = append(errs, field.Invalid(p.Child("path"), hp.Path, fmt.Sprintf("cannot end with '%s'", suffix)))
				}
			}
		case networkingv1.PathTypeImplementationSpecific:
			if hp.Path != "" && !strings.HasPrefix(hp.Path, "/") {
				errs = append(errs, field.Invalid(p.Child("path"), hp.Path, "must be an absolute path"))
			}
		}
	}
	return append(errs, validateIngressBackend(&hp.Backend, p.Child("backend"))...)
}

func validateIngressBackend(b *networkingv1.IngressBackend, p *field.Path) field.ErrorList {
	switch {
	case b.Service != nil && b.Resource != nil:
		return field.ErrorList{field.Invalid(p, "", "cannot set both service and resource backends")}
	case b.Resource != nil:
		var errs field.ErrorList
		if b.Resource.Kind == "" {
			errs = append(errs, field.Required(p.Child("resource", "kind"), ""))
		}
		if b.Resource.Name == "" {
			errs = append(errs, field.Required(p.Child("resource", "name"), ""))
		}
		return errs
	case b.Service == nil:
		return field.ErrorList{field.Invalid(p, "", "resource or service backend is required")}
	}
	sp := p.Child("service")
	errs := requiredName(b.Service.Name, sp.Child("name"), func(v string, fp *field.Path) field.ErrorList {
		return invalidEach(fp, v, validation.IsDNS1035Label(v))
	})
	port := b.Service.Port
	switch {
	case port.Name != "" && port.Number != 0:
		errs = append(errs, field.Invalid(sp.Child("port"), port, "cannot set both port name & port number"))
	case port.Name != "":
		errs = append(errs, invalidEach(sp.Child("port", "name"), port.Name, validation.IsValidPortName(port.Name))...)
	case port.Number != 0:
		errs = append(errs, validatePortNum(port.Number, sp.Child("port", "number"))...)
	default:
		errs = append(errs, field.Invalid(sp.Child("port"), port, "port name or number is required"))
	}
	return errs
}

func validateIngressStatusUpdate(ing, _ *networkingv1.Ingress) field.ErrorList {
	var errs field.ErrorList
	for i, lb := range ing.Status.LoadBalancer.Ingress {
		if lb.IP != "" {
			errs = append(errs, validateIP(lb.IP, statusPath.Child("loadBalancer", "ingress").Index(i).Child("ip"))...)
		}
	}
	return errs
}

var ingressClassScopes = []string{networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace}

func validateIngressClass(ic *networkingv1.IngressClass) field.ErrorList {
	var errs field.ErrorList
	cp := specPath.Child("controller")
	switch {
	case ic.Spec.Controller == "":
		errs = append(errs, field.Required(cp, ""))
	case len(ic.Spec.Controller) > 250:
		errs = append(errs, field.TooLong(cp, "", 250))
	default:
		errs = append(errs, validation.IsDomainPrefixedPath(cp, ic.Spec.Controller)...)
	}
	if par := ic.Spec.Parameters; par != nil {
		pp := specPath.Child("parameters")
		if par.Kind == "" {
			errs = append(errs, field.Required(pp.Child("kind"), ""))
		}
		if par.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		}
		if par.Scope != nil {
			errs = append(errs, validateEnum(*par.Scope, pp.Child("scope"), ingressClassScopes...)...)
			switch {
			case *par.Scope == networkingv1.IngressClassParametersReferenceScopeNamespace && par.Namespace == nil:
				errs = append(errs, field.Required(pp.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
			case *par.Scope == networkingv1.IngressClassParametersReferenceScopeCluster && par.Namespace != nil:
				errs = append(errs, field.Forbidden(pp.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
			}
		}
	}
	return errs
}

func validateIngressClassUpdate(ic, old *networkingv1.IngressClass) field.ErrorList {
	return immutable(ic.Spec.Controller, old.Spec.Controller, specPath.Child("controller"))
}

var policyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}

func validateNetworkPolicy(np *networkingv1.NetworkPolicy) field.ErrorList {
	spec := &np.Spec
	errs := validateSelector(&spec.PodSelector, specPath.Child("podSelector"), "")
	for i, r := range spec.Ingress {
		rp := specPath.Child("ingress").Index(i)
		errs = append(errs, validateNetworkPolicyPorts(r.Ports, rp.Child("ports"))...)
		errs = append(errs, validateNetworkPolicyPeers(r.From, rp.Child("from"))...)
	}
	for i, r := range spec.Egress {
		rp := specPath.Child("egress").Index(i)
		errs = append(errs, validateNetworkPolicyPorts(r.Ports, rp.Child("ports"))...)
		errs = append(errs, validateNetworkPolicyPeers(r.To, rp.Child("to"))...)
	}
	if len(spec.PolicyTypes) > 2 {
		errs = append(errs, field.Invalid(specPath.Child("policyTypes"), spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range spec.PolicyTypes {
		errs = append(errs, validateEnum(t, specPath.Child("policyTypes").Index(i), policyTypes...)...)
	}
	return errs
}

func validateNetworkPolicyPorts(ports []networkingv1.NetworkPolicyPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, port := range ports {
		ip := p.Index(i)
		if port.Protocol != nil {
			errs = append(errs, validateEnum(*port.Protocol, ip.Child("protocol"), supportedProtocols...)...)
		}
		if port.Port != nil {
			errs = append(errs, validatePortNumOrName(*port.Port, ip.Child("port"))...)
		}
		if port.EndPort == nil {
			continue
		}
		ep := ip.Child("endPort")
		switch {
		case port.Port == nil:
			errs = append(errs, field.Required(ip.Child("port"), "must be specified when endPort is specified"))
		case port.Port.StrVal != "":
			errs = append(errs, field.Invalid(ep, *port.EndPort, "may not be specified when `port` is non-numeric"))
		case *port.EndPort < port.Port.IntVal:
			errs = append(errs, field.Invalid(ep, *port.EndPort, "must be greater than or equal to `port`"))
		default:
			errs = append(errs, validatePortNum(*port.EndPort, ep)...)
		}
	}
	return errs
}

func validateNetworkPolicyPeers(peers []networkingv1.NetworkPolicyPeer, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, peer := range peers {
		ip := p.Index(i)
		selectors := peer.PodSelector != nil || peer.NamespaceSelector != nil
		switch {
		case peer.IPBlock != nil && selectors:
			errs = append(errs, field.Forbidden(ip, "may not specify both ipBlock and another peer"))
		case peer.IPBlock == nil && !selectors:
			errs = append(errs, field.Required(ip, "must specify a peer"))
		}
		errs = append(errs, validateSelector(peer.PodSelector, ip.Child("podSelector"), "")...)
		errs = append(errs, validateSelector(peer.NamespaceSelector, ip.Child("namespaceSelector"), "")...)
		if b := peer.IPBlock; b != nil {
			bp := ip.Child("ipBlock")
			if b.CIDR == "" {
				errs = append(errs, field.Required(bp.Child("cidr"), ""))
				continue
			}
			cidrErrs := validateCIDR(b.CIDR, bp.Child("cidr"))
			errs = append(errs, cidrErrs...)
			outer, err := netip.ParsePrefix(b.CIDR)
			for j, ex := range b.Except {
				exp := bp.Child("except").Index(j)
				inner, perr := netip.ParsePrefix(ex)
				if perr != nil {
					errs = append(errs, validateCIDR(ex, exp)...)
					continue
				}
				if err == nil && (inner.Bits() <= outer.Bits() || !outer.Contains(inner.Addr())) {
					errs = append(errs, field.Invalid(exp, ex, "must be a strict subset of `cidr`"))
				}
			}
		}
	}
	return errs
}

var addressTypes = []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN}

const (
	maxSliceEndpoints = 1000
	maxSliceAddresses = 100
)

func validateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateRequiredEnum(es.AddressType, field.NewPath("addressType"), addressTypes...)
	ep := field.NewPath("endpoints")
	if len(es.Endpoints) > maxSliceEndpoints {
		errs = append(errs, field.TooMany(ep, len(es.Endpoints), maxSliceEndpoints))
	}
	for i, e := range es.Endpoints {
		ip := ep.Index(i)
		ap := ip.Child("addresses")
		if len(e.Addresses) == 0 {
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		} else if len(e.Addresses) > maxSliceAddresses {
			errs = append(errs, field.TooMany(ap, len(e.Addresses), maxSliceAddresses))
		}
		for j, a := range e.Addresses {
			errs = append(errs, validateSliceAddress(es.AddressType, a, ap.Index(j))...)
		}
		if e.Hostname != nil {
			errs = append(errs, validateDNS1123Label(*e.Hostname, ip.Child("hostname"))...)
		}
		if e.NodeName != nil {
			errs = append(errs, validateDNS1123Subdomain(*e.NodeName, ip.Child("nodeName"))...)
		}
	}
	names := duplicates{}
	for i, port := range es.Ports {
		pp := field.NewPath("ports").Index(i)
		if port.Name != nil && *port.Name != "" {
			errs = append(errs, validateDNS1123Label(*port.Name, pp.Child("name"))...)
		}
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		errs = append(errs, names.check(name, pp.Child("name"))...)
		if port.Protocol != nil {
			errs = append(errs, validateProtocol(*port.Protocol, pp.Child("protocol"))...)
		}
		if port.Port != nil {
			errs = append(errs, validatePortNum(*port.Port, pp.Child("port"))...)
		}
	}
	return errs
}

func validateSliceAddress(t discoveryv1.AddressType, a string, p *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeFQDN:
		return validateDNS1123Subdomain(a, p)
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		errs := validateIP(a, p)
		if ip, err := netip.ParseAddr(a); err == nil && (ip.Is4() != (t == discoveryv1.AddressTypeIPv4)) {
			errs = append(errs, field.Invalid(p, a, fmt.Sprintf("must be an %s address", t)))
		}
		return errs
	}
	return nil
}

func validateEndpointSliceUpdate(es, old *discoveryv1.EndpointSlice) field.ErrorList {
	return immutable(es.AddressType, old.AddressType, field.NewPath("addressType"))
}
