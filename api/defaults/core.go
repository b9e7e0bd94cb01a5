package defaults

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// SetServiceDefaults defaults a Service. Besides upstream's defaults.go it
// sets ipFamilyPolicy/ipFamilies, which upstream fills in its REST layer;
// corral is single-stack, so the families come from the cluster IP (or are
// IPv4) and the policy is SingleStack, except for selector-less headless
// services, which upstream makes RequireDualStack.
func SetServiceDefaults(svc *corev1.Service) {
	spec := &svc.Spec
	defaultString(&spec.SessionAffinity, corev1.ServiceAffinityNone)
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		if spec.SessionAffinityConfig == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}
		if spec.SessionAffinityConfig.ClientIP == nil {
			spec.SessionAffinityConfig.ClientIP = &corev1.ClientIPConfig{}
		}
		defaultPtr(&spec.SessionAffinityConfig.ClientIP.TimeoutSeconds, corev1.DefaultClientIPServiceAffinitySeconds)
	}
	defaultString(&spec.Type, corev1.ServiceTypeClusterIP)
	for i := range spec.Ports {
		p := &spec.Ports[i]
		defaultString(&p.Protocol, corev1.ProtocolTCP)
		if p.TargetPort == (intstr.IntOrString{}) {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer {
		defaultString(&spec.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster)
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer {
		defaultPtr(&spec.AllocateLoadBalancerNodePorts, true)
	}
	if spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	defaultPtr(&spec.InternalTrafficPolicy, corev1.ServiceInternalTrafficPolicyCluster)

	// Keep clusterIP and clusterIPs[0] in step, as upstream normalises them.
	if spec.ClusterIP == "" && len(spec.ClusterIPs) > 0 {
		spec.ClusterIP = spec.ClusterIPs[0]
	}
	if spec.ClusterIP != "" && len(spec.ClusterIPs) == 0 {
		spec.ClusterIPs = []string{spec.ClusterIP}
	}
	headless := spec.ClusterIP == corev1.ClusterIPNone
	if headless && len(spec.Selector) == 0 {
		defaultPtr(&spec.IPFamilyPolicy, corev1.IPFamilyPolicyRequireDualStack)
	} else {
		defaultPtr(&spec.IPFamilyPolicy, corev1.IPFamilyPolicySingleStack)
	}
	if len(spec.IPFamilies) == 0 {
		family := corev1.IPv4Protocol
		if ip, err := netip.ParseAddr(spec.ClusterIP); err == nil && ip.Is6() && !ip.Is4In6() {
			family = corev1.IPv6Protocol
		}
		spec.IPFamilies = []corev1.IPFamily{family}
	}
}

func setEndpointsDefaults(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			defaultString(&ep.Subsets[i].Ports[j].Protocol, corev1.ProtocolTCP)
		}
	}
}

// setSecretDefaults also folds stringData into data. Upstream does that
// when converting to its internal type; corral has none, and stringData is
// write-only, so this is the one place every decoded Secret passes.
func setSecretDefaults(s *corev1.Secret) {
	defaultString(&s.Type, corev1.SecretTypeOpaque)
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
		s.StringData = nil
	}
}

// setNamespaceDefaults adds the kubernetes.io/metadata.name label upstream
// puts on every namespace, so namespaceSelectors can pick one by name.
// status.phase is left to the namespace create path on purpose.
func setNamespaceDefaults(ns *corev1.Namespace) {
	if ns.Name == "" {
		return
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

// setNodeDefaults makes allocatable equal capacity when a kubelet reports
// only capacity.
func setNodeDefaults(n *corev1.Node) {
	if n.Status.Allocatable == nil && len(n.Status.Capacity) > 0 {
		n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	}
	roundResourceList(n.Status.Capacity)
	roundResourceList(n.Status.Allocatable)
}

func setPVDefaults(pv *corev1.PersistentVolume) {
	defaultString(&pv.Spec.PersistentVolumeReclaimPolicy, corev1.PersistentVolumeReclaimRetain)
	defaultPtr(&pv.Spec.VolumeMode, corev1.PersistentVolumeFilesystem)
	defaultString(&pv.Status.Phase, corev1.VolumePending)
	roundResourceList(pv.Spec.Capacity)
	src := &pv.Spec.PersistentVolumeSource
	if src.HostPath != nil {
		defaultPtr(&src.HostPath.Type, corev1.HostPathUnset)
	}
	if src.ISCSI != nil {
		defaultString(&src.ISCSI.ISCSIInterface, "default")
	}
	if src.RBD != nil {
		setRBDDefaults(&src.RBD.RBDPool, &src.RBD.RadosUser, &src.RBD.Keyring)
	}
	if src.AzureDisk != nil {
		setAzureDiskDefaults(src.AzureDisk)
	}
	if src.ScaleIO != nil {
		defaultString(&src.ScaleIO.StorageMode, "ThinProvisioned")
		defaultString(&src.ScaleIO.FSType, "xfs")
	}
}

func setPVCDefaults(pvc *corev1.PersistentVolumeClaim) {
	setPVCSpecDefaults(&pvc.Spec)
	defaultString(&pvc.Status.Phase, corev1.ClaimPending)
}

func setPVCSpecDefaults(spec *corev1.PersistentVolumeClaimSpec) {
	defaultPtr(&spec.VolumeMode, corev1.PersistentVolumeFilesystem)
	roundResourceList(spec.Resources.Limits)
	roundResourceList(spec.Resources.Requests)
}

func setResourceQuotaDefaults(q *corev1.ResourceQuota) {
	roundResourceList(q.Spec.Hard)
}

// setLimitRangeDefaults fills, for Container items, the default limit from
// max, and the default request from the default limit or else from min, so
// the admission plugin has concrete values to apply.
func setLimitRangeDefaults(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		if item.Default == nil {
			item.Default = corev1.ResourceList{}
		}
		if item.DefaultRequest == nil {
			item.DefaultRequest = corev1.ResourceList{}
		}
		fillMissing(item.Default, item.Max)
		fillMissing(item.DefaultRequest, item.Default)
		fillMissing(item.DefaultRequest, item.Min)
	}
}

// fillMissing copies entries of from that dst lacks.
func fillMissing(dst, from corev1.ResourceList) {
	for name, q := range from {
		if _, ok := dst[name]; !ok {
			dst[name] = q.DeepCopy()
		}
	}
}
