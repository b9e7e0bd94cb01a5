package printers

import (
	"fmt"
	"strconv"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

var ingressPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
		column("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
		column("Address", "string", "Address is a list containing ingress points for the load-balancer"),
		column("Ports", "string", "Ports of TLS configurations that open"),
		ageColumn,
	},
	row: rowOf(func(ing *networkingv1.Ingress, age string) []interface{} {
		class := "<none>"
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		}
		addrs := sets.New[string]()
		for _, in := range ing.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				addrs.Insert(in.IP)
			} else if in.Hostname != "" {
				addrs.Insert(in.Hostname)
			}
		}
		ports := "80"
		if len(ing.Spec.TLS) != 0 {
			ports = "80, 443"
		}
		return []interface{}{ing.Name, class, ingressHosts(ing.Spec.Rules), strings.Join(sets.List(addrs), ","), ports, age}
	}),
}

// ingressHosts lists the first three hosts; "*" when no rule names one.
func ingressHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var list []string
	more := false
	for _, r := range rules {
		if len(list) == max {
			more = true
		}
		if !more && r.Host != "" {
			list = append(list, r.Host)
		}
	}
	switch {
	case len(list) == 0:
		return "*"
	case more:
		// Counted over rules as upstream does, host or not.
		return fmt.Sprintf("%s + %d more...", strings.Join(list, ","), len(rules)-max)
	}
	return strings.Join(list, ",")
}

var ingressClassPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Controller", "string", "Controller that is responsible for handling this class"),
		column("Parameters", "string", "A reference to a resource with additional parameters"),
		ageColumn,
	},
	row: rowOf(func(ic *networkingv1.IngressClass, age string) []interface{} {
		params := "<none>"
		if p := ic.Spec.Parameters; p != nil {
			params = p.Kind
			if p.APIGroup != nil {
				params += "." + *p.APIGroup
			}
			params += "/" + p.Name
		}
		return []interface{}{ic.Name, ic.Spec.Controller, params, age}
	}),
}

var networkPolicyPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Pod-Selector", "string", networkingv1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]),
		ageColumn,
	},
	row: rowOf(func(np *networkingv1.NetworkPolicy, age string) []interface{} {
		return []interface{}{np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), age}
	}),
}

var endpointSliceDoc = discoveryv1.EndpointSlice{}.SwaggerDoc()

var endpointSlicePrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("AddressType", "string", endpointSliceDoc["addressType"]),
		column("Ports", "string", endpointSliceDoc["ports"]),
		column("Endpoints", "string", endpointSliceDoc["endpoints"]),
		ageColumn,
	},
	row: rowOf(func(es *discoveryv1.EndpointSlice, age string) []interface{} {
		const max = 3
		var ports []string
		for _, p := range es.Ports {
			switch {
			case p.Port != nil:
				ports = append(ports, strconv.Itoa(int(*p.Port)))
			case p.Name != nil:
				ports = append(ports, *p.Name)
			default:
				ports = append(ports, "*")
			}
		}
		var addrs []string
		for _, ep := range es.Endpoints {
			addrs = append(addrs, ep.Addresses...)
		}
		return []interface{}{es.Name, string(es.AddressType), orUnset(listWithMore(ports, len(ports), max)),
			orUnset(listWithMore(addrs, len(addrs), max)), age}
	}),
}

func orUnset(s string) string {
	if s == "" {
		return "<unset>"
	}
	return s
}
