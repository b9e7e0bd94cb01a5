package defaults

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const (
	// defaultFileMode is 0644, the mode upstream gives projected files.
	defaultFileMode      int32 = 0o644
	defaultSchedulerName       = "default-scheduler"
)

// SetPodDefaults defaults a Pod. On top of the pod spec defaults every
// template gets, a Pod (but not a template, matching upstream) gets
// enableServiceLinks, requests copied from limits and host-network ports.
func SetPodDefaults(pod *corev1.Pod) {
	SetPodSpecDefaults(&pod.Spec)
	defaultPtr(&pod.Spec.EnableServiceLinks, corev1.DefaultEnableServiceLinks)
	for i := range pod.Spec.Containers {
		requestsFromLimits(&pod.Spec.Containers[i].Resources)
	}
	for i := range pod.Spec.InitContainers {
		requestsFromLimits(&pod.Spec.InitContainers[i].Resources)
	}
	if pod.Spec.Resources != nil {
		requestsFromLimits(pod.Spec.Resources)
	}
	if pod.Spec.HostNetwork {
		hostNetworkPorts(pod.Spec.Containers)
		hostNetworkPorts(pod.Spec.InitContainers)
	}
}

// SetPodTemplateSpecDefaults defaults the pod template of a workload.
func SetPodTemplateSpecDefaults(t *corev1.PodTemplateSpec) {
	SetPodSpecDefaults(&t.Spec)
}

// SetPodSpecDefaults applies the defaults shared by Pods and templates.
func SetPodSpecDefaults(spec *corev1.PodSpec) {
	defaultString(&spec.DNSPolicy, corev1.DNSClusterFirst)
	defaultString(&spec.RestartPolicy, corev1.RestartPolicyAlways)
	defaultString(&spec.SchedulerName, defaultSchedulerName)
	defaultPtr(&spec.TerminationGracePeriodSeconds, corev1.DefaultTerminationGracePeriodSeconds)
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	for i := range spec.Containers {
		setContainerDefaults(&spec.Containers[i])
	}
	for i := range spec.InitContainers {
		setContainerDefaults(&spec.InitContainers[i])
	}
	for i := range spec.EphemeralContainers {
		c := (*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon)
		setContainerDefaults(c)
	}
	for i := range spec.Volumes {
		setVolumeDefaults(&spec.Volumes[i])
	}
	if spec.Resources != nil {
		roundResourceList(spec.Resources.Limits)
		roundResourceList(spec.Resources.Requests)
	}
	roundResourceList(spec.Overhead)
}

func setContainerDefaults(c *corev1.Container) {
	defaultString(&c.ImagePullPolicy, pullPolicyFor(c.Image))
	defaultString(&c.TerminationMessagePath, corev1.TerminationMessagePathDefault)
	defaultString(&c.TerminationMessagePolicy, corev1.TerminationMessageReadFile)
	for i := range c.Ports {
		defaultString(&c.Ports[i].Protocol, corev1.ProtocolTCP)
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil {
			if vf.FieldRef != nil {
				defaultString(&vf.FieldRef.APIVersion, "v1")
			}
			if vf.FileKeyRef != nil {
				defaultPtr(&vf.FileKeyRef.Optional, false)
			}
		}
	}
	setProbeDefaults(c.LivenessProbe)
	setProbeDefaults(c.ReadinessProbe)
	setProbeDefaults(c.StartupProbe)
	if c.Lifecycle != nil {
		setHandlerDefaults(c.Lifecycle.PostStart)
		setHandlerDefaults(c.Lifecycle.PreStop)
	}
	roundResourceList(c.Resources.Limits)
	roundResourceList(c.Resources.Requests)
}

// pullPolicyFor mirrors upstream: images whose tag is "latest", or with
// neither tag nor digest (which means latest), are pulled Always; anything
// pinned by tag or digest is pulled IfNotPresent.
func pullPolicyFor(image string) corev1.PullPolicy {
	if imageTag(image) == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// imageTag returns the tag of an image reference, "latest" when it has no
// tag and no digest, and "" when it only has a digest. A colon before the
// last slash belongs to a registry host:port, not a tag.
func imageTag(image string) string {
	name, _, hasDigest := strings.Cut(image, "@")
	tag := ""
	if i := strings.LastIndex(name, ":"); i >= 0 && !strings.Contains(name[i+1:], "/") {
		tag = name[i+1:]
	}
	if tag == "" && !hasDigest {
		return "latest"
	}
	return tag
}

func setProbeDefaults(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	setHTTPGetDefaults(p.HTTPGet)
	if p.GRPC != nil {
		defaultPtr(&p.GRPC.Service, "")
	}
}

func setHandlerDefaults(h *corev1.LifecycleHandler) {
	if h != nil {
		setHTTPGetDefaults(h.HTTPGet)
	}
}

func setHTTPGetDefaults(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	defaultString(&h.Path, "/")
	defaultString(&h.Scheme, corev1.URISchemeHTTP)
}

// setVolumeDefaults gives a volume without any source an emptyDir, as
// upstream does, and fills the per-source defaults.
func setVolumeDefaults(v *corev1.Volume) {
	if isZeroVolumeSource(&v.VolumeSource) {
		v.VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	}
	setVolumeSourceDefaults(&v.VolumeSource)
}

func isZeroVolumeSource(vs *corev1.VolumeSource) bool {
	return *vs == (corev1.VolumeSource{})
}

func setVolumeSourceDefaults(vs *corev1.VolumeSource) {
	if vs.HostPath != nil {
		defaultPtr(&vs.HostPath.Type, corev1.HostPathUnset)
	}
	if vs.ConfigMap != nil {
		defaultPtr(&vs.ConfigMap.DefaultMode, defaultFileMode)
	}
	if vs.Secret != nil {
		defaultPtr(&vs.Secret.DefaultMode, defaultFileMode)
	}
	if vs.DownwardAPI != nil {
		defaultPtr(&vs.DownwardAPI.DefaultMode, defaultFileMode)
		downwardAPIItemDefaults(vs.DownwardAPI.Items)
	}
	if vs.Projected != nil {
		defaultPtr(&vs.Projected.DefaultMode, defaultFileMode)
		for i := range vs.Projected.Sources {
			src := &vs.Projected.Sources[i]
			if src.DownwardAPI != nil {
				downwardAPIItemDefaults(src.DownwardAPI.Items)
			}
			if src.ServiceAccountToken != nil {
				defaultPtr(&src.ServiceAccountToken.ExpirationSeconds, int64(3600))
			}
		}
	}
	if vs.ISCSI != nil {
		defaultString(&vs.ISCSI.ISCSIInterface, "default")
	}
	if vs.RBD != nil {
		setRBDDefaults(&vs.RBD.RBDPool, &vs.RBD.RadosUser, &vs.RBD.Keyring)
	}
	if vs.AzureDisk != nil {
		setAzureDiskDefaults(vs.AzureDisk)
	}
	if vs.ScaleIO != nil {
		defaultString(&vs.ScaleIO.StorageMode, "ThinProvisioned")
		defaultString(&vs.ScaleIO.FSType, "xfs")
	}
	if vs.Image != nil {
		defaultString(&vs.Image.PullPolicy, pullPolicyFor(vs.Image.Reference))
	}
	if vs.Ephemeral != nil && vs.Ephemeral.VolumeClaimTemplate != nil {
		setPVCSpecDefaults(&vs.Ephemeral.VolumeClaimTemplate.Spec)
	}
}

func downwardAPIItemDefaults(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if items[i].FieldRef != nil {
			defaultString(&items[i].FieldRef.APIVersion, "v1")
		}
	}
}

func setRBDDefaults(pool, user, keyring *string) {
	defaultString(pool, "rbd")
	defaultString(user, "admin")
	defaultString(keyring, "/etc/ceph/keyring")
}

func setAzureDiskDefaults(a *corev1.AzureDiskVolumeSource) {
	defaultPtr(&a.CachingMode, corev1.AzureDataDiskCachingReadWrite)
	defaultPtr(&a.Kind, corev1.AzureSharedBlobDisk)
	defaultPtr(&a.FSType, "ext4")
	defaultPtr(&a.ReadOnly, false)
}

// requestsFromLimits copies each limit into requests when the request for
// that resource is missing, so a limit-only container is Guaranteed-like.
func requestsFromLimits(r *corev1.ResourceRequirements) {
	if len(r.Limits) == 0 {
		return
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	for name, q := range r.Limits {
		if _, ok := r.Requests[name]; !ok {
			r.Requests[name] = q.DeepCopy()
		}
	}
}

// hostNetworkPorts sets hostPort = containerPort: with host networking
// they are the same port, and upstream records that explicitly.
func hostNetworkPorts(cs []corev1.Container) {
	for i := range cs {
		for j := range cs[i].Ports {
			if cs[i].Ports[j].HostPort == 0 {
				cs[i].Ports[j].HostPort = cs[i].Ports[j].ContainerPort
			}
		}
	}
}

// roundResourceList rounds quantities up to milli precision, the finest
// precision the API keeps (upstream does the same when defaulting).
func roundResourceList(l corev1.ResourceList) {
	for name, q := range l {
		q.RoundUp(resource.Milli)
		l[name] = q
	}
}
