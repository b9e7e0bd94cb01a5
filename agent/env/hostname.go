package env

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Hostname returns the host name a pod's containers get, as kubelet
// computes it: the node's with hostNetwork, else spec.hostname or the pod
// name cut to 63 characters (no trailing '-' or '.'), and with
// setHostnameAsFQDN the full <host>.<subdomain>.<namespace>.svc.<domain>
// name (at most 64 characters, the kernel's limit).
func Hostname(pod *corev1.Pod, nodeHostname, clusterDomain string) (string, error) {
	if pod.Spec.HostNetwork {
		return nodeHostname, nil
	}
	host := pod.Name
	if len(host) > validation.DNS1123LabelMaxLength {
		host = strings.TrimRight(host[:validation.DNS1123LabelMaxLength], "-.")
	}
	if pod.Spec.Hostname != "" {
		if errs := validation.IsDNS1123Label(pod.Spec.Hostname); len(errs) > 0 {
			return "", fmt.Errorf("pod hostname %q: %s", pod.Spec.Hostname, strings.Join(errs, "; "))
		}
		host = pod.Spec.Hostname
	}
	if pod.Spec.SetHostnameAsFQDN == nil || !*pod.Spec.SetHostnameAsFQDN || pod.Spec.Subdomain == "" {
		return host, nil
	}
	if errs := validation.IsDNS1123Label(pod.Spec.Subdomain); len(errs) > 0 {
		return "", fmt.Errorf("pod subdomain %q: %s", pod.Spec.Subdomain, strings.Join(errs, "; "))
	}
	fqdn := fmt.Sprintf("%s.%s.%s.svc.%s", host, pod.Spec.Subdomain, pod.Namespace, clusterDomain)
	if len(fqdn) > 64 {
		return "", fmt.Errorf("failed to construct FQDN from pod hostname and cluster domain, FQDN %s is too long (64 characters is the max, %d characters requested)", fqdn, len(fqdn))
	}
	return fqdn, nil
}
