package cri

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// cgroup v1 CFS values, as kubelet's.
const (
	minShares     = 2
	sharesPerCPU  = 1024
	quotaPeriod   = 100000 // 100ms in µs
	minQuota      = 1000
	guaranteedOOM = -997
	bestEffortOOM = 1000
)

// resources maps requests and limits to cgroup settings: CPU shares from
// the request (the limit when only that is set), CFS quota from the CPU
// limit, the memory limit, and oom_score_adj from the pod's QoS class.
func (r *Runtime) resources(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerResources {
	res := &runtimeapi.LinuxContainerResources{}
	cpuReq, cpuLim := c.Resources.Requests.Cpu(), c.Resources.Limits.Cpu()
	shares := cpuReq.MilliValue()
	if shares == 0 && !cpuLim.IsZero() {
		shares = cpuLim.MilliValue()
	}
	res.CpuShares = max(shares*sharesPerCPU/1000, minShares)
	if !cpuLim.IsZero() {
		res.CpuPeriod = quotaPeriod
		res.CpuQuota = max(cpuLim.MilliValue()*quotaPeriod/1000, minQuota)
	}
	if m := c.Resources.Limits.Memory(); !m.IsZero() {
		res.MemoryLimitInBytes = m.Value()
	}
	res.OomScoreAdj = r.oomScoreAdj(pod, c)
	return res
}

// oomScoreAdj follows kubelet: Guaranteed -997, BestEffort 1000,
// Burstable scaled by the share of node memory requested, within 3..999.
func (r *Runtime) oomScoreAdj(pod *corev1.Pod, c *corev1.Container) int64 {
	switch qosClass(pod) {
	case corev1.PodQOSGuaranteed:
		return guaranteedOOM
	case corev1.PodQOSBestEffort:
		return bestEffortOOM
	}
	if r.memory <= 0 {
		return bestEffortOOM - 1
	}
	adj := 1000 - 1000*c.Resources.Requests.Memory().Value()/r.memory
	switch {
	case adj < 1000+guaranteedOOM:
		return 1000 + guaranteedOOM
	case adj >= bestEffortOOM:
		return bestEffortOOM - 1
	}
	return adj
}

// qosClass is the pod's QoS class: the status's when set, else computed
// from cpu and memory requests and limits as the API server does.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	anySet, guaranteed := false, true
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, hasReq := c.Resources.Requests[name]
				lim, hasLim := c.Resources.Limits[name]
				if hasReq && !req.IsZero() || hasLim && !lim.IsZero() {
					anySet = true
				}
				if !hasLim || lim.IsZero() || hasReq && req.Cmp(lim) != 0 {
					guaranteed = false
				}
			}
		}
	}
	switch {
	case !anySet:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// Paths hidden from unprivileged containers, as the OCI runtime spec's
// defaults that kubelet passes.
var (
	maskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
		"/sys/devices/virtual/powercap"}
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// securityContext merges the pod's and the container's security context
// (the container's wins) and checks runAsNonRoot against the user that
// will run, as kubelet's verifyRunAsNonRoot.
func securityContext(pod *corev1.Pod, c *corev1.Container, img *runtimeapi.Image) (*runtimeapi.LinuxContainerSecurityContext, error) {
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	sc := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions(pod),
		SupplementalGroups: supplementalGroups(psc)}
	runAsUser, runAsGroup, nonRoot := psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
	if csc.RunAsUser != nil {
		runAsUser = csc.RunAsUser
	}
	if csc.RunAsGroup != nil {
		runAsGroup = csc.RunAsGroup
	}
	if csc.RunAsNonRoot != nil {
		nonRoot = csc.RunAsNonRoot
	}
	if runAsUser != nil {
		sc.RunAsUser = &runtimeapi.Int64Value{Value: *runAsUser}
	}
	if runAsGroup != nil {
		sc.RunAsGroup = &runtimeapi.Int64Value{Value: *runAsGroup}
	}
	if nonRoot != nil && *nonRoot {
		switch {
		case runAsUser != nil && *runAsUser == 0:
			return nil, errors.New("container's runAsUser breaks non-root policy")
		case runAsUser != nil:
		case img.GetUid() != nil && img.GetUid().Value == 0, img.GetUid() == nil && img.GetUsername() == "":
			return nil, errors.New("container has runAsNonRoot and image will run as root")
		case img.GetUid() == nil:
			return nil, fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root", img.GetUsername())
		}
	}
	sc.Privileged = csc.Privileged != nil && *csc.Privileged
	sc.ReadonlyRootfs = csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem
	sc.NoNewPrivs = csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation
	if caps := csc.Capabilities; caps != nil {
		sc.Capabilities = &runtimeapi.Capability{}
		for _, a := range caps.Add {
			sc.Capabilities.AddCapabilities = append(sc.Capabilities.AddCapabilities, string(a))
		}
		for _, d := range caps.Drop {
			sc.Capabilities.DropCapabilities = append(sc.Capabilities.DropCapabilities, string(d))
		}
	}
	if !sc.Privileged && (csc.ProcMount == nil || *csc.ProcMount != corev1.UnmaskedProcMount) {
		sc.MaskedPaths, sc.ReadonlyPaths = maskedPaths, readonlyPaths
	}
	seccomp := psc.SeccompProfile
	if csc.SeccompProfile != nil {
		seccomp = csc.SeccompProfile
	}
	if seccomp != nil {
		switch seccomp.Type {
		case corev1.SeccompProfileTypeRuntimeDefault:
			sc.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
		case corev1.SeccompProfileTypeUnconfined:
			sc.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
		case corev1.SeccompProfileTypeLocalhost:
			p := ""
			if seccomp.LocalhostProfile != nil {
				p = *seccomp.LocalhostProfile
			}
			if !strings.HasPrefix(p, "/") {
				return nil, fmt.Errorf("localhost seccomp profile %q: corral supports absolute host paths only", p)
			}
			sc.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: p}
		}
	}
	return sc, nil
}
