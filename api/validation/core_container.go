package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	pullPolicies               = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	terminationMessagePolicies = []corev1.TerminationMessagePolicy{corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError}
	uriSchemes                 = []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}
)

// containerCtx carries what the checks of one pod's containers share.
type containerCtx struct {
	volumes     sets.Set[string]
	names       duplicates // container names are unique across all kinds
	portNames   duplicates // so are port names, across containers
	hostNetwork bool
}

func validateAllContainers(spec *corev1.PodSpec, volumes sets.Set[string], p *field.Path) field.ErrorList {
	ctx := &containerCtx{volumes: volumes, hostNetwork: spec.HostNetwork}
	var errs field.ErrorList
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		cp := p.Child("initContainers").Index(i)
		errs = append(errs, validateContainer(c, cp, ctx)...)
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if c.RestartPolicy != nil && !sidecar {
			errs = append(errs, field.NotSupported(cp.Child("restartPolicy"), *c.RestartPolicy, []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}))
		}
		// Only sidecars keep running, so only they can have probes/hooks.
		if !sidecar {
			for _, n := range []struct {
				name string
				set  bool
			}{{"lifecycle", c.Lifecycle != nil}, {"livenessProbe", c.LivenessProbe != nil},
				{"readinessProbe", c.ReadinessProbe != nil}, {"startupProbe", c.StartupProbe != nil}} {
				if n.set {
					errs = append(errs, field.Forbidden(cp.Child(n.name), "may not be set for init containers without restartPolicy=Always"))
				}
			}
		}
	}
	for i := range spec.Containers {
		errs = append(errs, validateContainer(&spec.Containers[i], p.Child("containers").Index(i), ctx)...)
	}
	for i := range spec.EphemeralContainers {
		ec := &spec.EphemeralContainers[i]
		ep := p.Child("ephemeralContainers").Index(i)
		errs = append(errs, validateContainer((*corev1.Container)(&ec.EphemeralContainerCommon), ep, ctx)...)
		for _, n := range []struct {
			name string
			set  bool
		}{{"ports", len(ec.Ports) > 0}, {"livenessProbe", ec.LivenessProbe != nil}, {"readinessProbe", ec.ReadinessProbe != nil},
			{"startupProbe", ec.StartupProbe != nil}, {"lifecycle", ec.Lifecycle != nil}} {
			if n.set {
				errs = append(errs, field.Forbidden(ep.Child(n.name), "cannot be set for an Ephemeral Container"))
			}
		}
	}
	return errs
}

func validateContainer(c *corev1.Container, p *field.Path, ctx *containerCtx) field.ErrorList {
	var errs field.ErrorList
	if c.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, validateDNS1123Label(c.Name, p.Child("name"))...)
		errs = append(errs, ctx.names.check(c.Name, p.Child("name"))...)
	}
	if c.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	} else if strings.TrimSpace(c.Image) != c.Image {
		errs = append(errs, field.Invalid(p.Child("image"), c.Image, "must not have leading or trailing whitespace"))
	}
	errs = append(errs, validateRequiredEnum(c.ImagePullPolicy, p.Child("imagePullPolicy"), pullPolicies...)...)
	errs = append(errs, validateRequiredEnum(c.TerminationMessagePolicy, p.Child("terminationMessagePolicy"), terminationMessagePolicies...)...)
	if c.TerminationMessagePath == "" {
		errs = append(errs, field.Required(p.Child("terminationMessagePath"), ""))
	}
	errs = append(errs, validateContainerPorts(c.Ports, p.Child("ports"), ctx)...)
	errs = append(errs, validateEnv(c.Env, p.Child("env"))...)
	errs = append(errs, validateEnvFrom(c.EnvFrom, p.Child("envFrom"))...)
	errs = append(errs, validateVolumeMounts(c.VolumeMounts, ctx.volumes, p.Child("volumeMounts"))...)
	errs = append(errs, validateResources(&c.Resources, p.Child("resources"))...)
	errs = append(errs, validateProbe(c.LivenessProbe, p.Child("livenessProbe"), true)...)
	errs = append(errs, validateProbe(c.StartupProbe, p.Child("startupProbe"), true)...)
	errs = append(errs, validateProbe(c.ReadinessProbe, p.Child("readinessProbe"), false)...)
	if rp := c.ReadinessProbe; rp != nil && rp.TerminationGracePeriodSeconds != nil {
		errs = append(errs, field.Invalid(p.Child("readinessProbe", "terminationGracePeriodSeconds"), *rp.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
	}
	if c.Lifecycle != nil {
		errs = append(errs, validateHandler(c.Lifecycle.PostStart, p.Child("lifecycle", "postStart"))...)
		errs = append(errs, validateHandler(c.Lifecycle.PreStop, p.Child("lifecycle", "preStop"))...)
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.Privileged != nil && *sc.Privileged && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
			errs = append(errs, field.Invalid(p.Child("securityContext"), sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if sc.RunAsUser != nil {
			errs = append(errs, invalidEach(p.Child("securityContext", "runAsUser"), *sc.RunAsUser, validation.IsValidUserID(*sc.RunAsUser))...)
		}
		if sc.RunAsGroup != nil {
			errs = append(errs, invalidEach(p.Child("securityContext", "runAsGroup"), *sc.RunAsGroup, validation.IsValidGroupID(*sc.RunAsGroup))...)
		}
	}
	return errs
}

func validateContainerPorts(ports []corev1.ContainerPort, p *field.Path, ctx *containerCtx) field.ErrorList {
	var errs field.ErrorList
	for i, port := range ports {
		ip := p.Index(i)
		if port.Name != "" {
			errs = append(errs, invalidEach(ip.Child("name"), port.Name, validation.IsValidPortName(port.Name))...)
			errs = append(errs, ctx.portNames.check(port.Name, ip.Child("name"))...)
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(ip.Child("containerPort"), ""))
		} else {
			errs = append(errs, validatePortNum(port.ContainerPort, ip.Child("containerPort"))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, validatePortNum(port.HostPort, ip.Child("hostPort"))...)
		}
		if ctx.hostNetwork && port.HostPort != 0 && port.HostPort != port.ContainerPort {
			errs = append(errs, field.Invalid(ip.Child("containerPort"), port.ContainerPort, "must match `hostPort` when `hostNetwork` is true"))
		}
		errs = append(errs, validateProtocol(port.Protocol, ip.Child("protocol"))...)
		if port.HostIP != "" {
			errs = append(errs, validateIP(port.HostIP, ip.Child("hostIP"))...)
		}
	}
	return errs
}

func validateEnv(env []corev1.EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		ip := p.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(ip.Child("name"), ""))
		} else {
			errs = append(errs, invalidEach(ip.Child("name"), ev.Name, validation.IsRelaxedEnvVarName(ev.Name))...)
		}
		vf := ev.ValueFrom
		if vf == nil {
			continue
		}
		vp := ip.Child("valueFrom")
		n := 0
		if vf.FieldRef != nil {
			n++
			if vf.FieldRef.FieldPath == "" {
				errs = append(errs, field.Required(vp.Child("fieldRef", "fieldPath"), ""))
			}
		}
		if vf.ResourceFieldRef != nil {
			n++
			if vf.ResourceFieldRef.Resource == "" {
				errs = append(errs, field.Required(vp.Child("resourceFieldRef", "resource"), ""))
			}
		}
		if vf.ConfigMapKeyRef != nil {
			n++
			errs = append(errs, validateKeyRef(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, vp.Child("configMapKeyRef"))...)
		}
		if vf.SecretKeyRef != nil {
			n++
			errs = append(errs, validateKeyRef(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, vp.Child("secretKeyRef"))...)
		}
		if vf.FileKeyRef != nil {
			n++
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(vp, "", "may not have more than one field specified at a time"))
		case ev.Value != "":
			errs = append(errs, field.Invalid(vp, "", "may not be specified when `value` is not empty"))
		}
	}
	return errs
}

func validateKeyRef(name, key string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, validateDNS1123Subdomain(name, p.Child("name"))...)
	}
	if key == "" {
		errs = append(errs, field.Required(p.Child("key"), ""))
	} else {
		errs = append(errs, invalidEach(p.Child("key"), key, validation.IsConfigMapKey(key))...)
	}
	return errs
}

func validateEnvFrom(srcs []corev1.EnvFromSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range srcs {
		ip := p.Index(i)
		if s.Prefix != "" {
			errs = append(errs, invalidEach(ip.Child("prefix"), s.Prefix, validation.IsRelaxedEnvVarName(s.Prefix))...)
		}
		switch {
		case s.ConfigMapRef != nil && s.SecretRef != nil:
			errs = append(errs, field.Invalid(ip, "", "may not have more than one field specified at a time"))
		case s.ConfigMapRef != nil:
			errs = append(errs, requiredName(s.ConfigMapRef.Name, ip.Child("configMapRef", "name"), validateDNS1123Subdomain)...)
		case s.SecretRef != nil:
			errs = append(errs, requiredName(s.SecretRef.Name, ip.Child("secretRef", "name"), validateDNS1123Subdomain)...)
		default:
			errs = append(errs, field.Invalid(ip, "", "must specify one of: `configMapRef` or `secretRef`"))
		}
	}
	return errs
}

func validateVolumeMounts(mounts []corev1.VolumeMount, volumes sets.Set[string], p *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := sets.New[string]()
	for i, m := range mounts {
		ip := p.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(ip.Child("name"), ""))
		} else if !volumes.Has(m.Name) {
			errs = append(errs, field.NotFound(ip.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(ip.Child("mountPath"), ""))
		} else if paths.Has(m.MountPath) {
			errs = append(errs, field.Invalid(ip.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths.Insert(m.MountPath)
		if m.SubPath != "" {
			errs = append(errs, validateLocalPath(m.SubPath, ip.Child("subPath"))...)
		}
		if m.SubPath != "" && m.SubPathExpr != "" {
			errs = append(errs, field.Invalid(ip.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
		}
	}
	return errs
}

// isContainerResource reports whether a resource name without a domain
// is one containers may use; names with a domain are extended resources.
func isContainerResource(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return true
	}
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

func validateResources(r *corev1.ResourceRequirements, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(l corev1.ResourceList, lp *field.Path) {
		for name, q := range l {
			kp := lp.Key(string(name))
			errs = append(errs, validateQualifiedName(string(name), kp)...)
			if !strings.Contains(string(name), "/") && !isContainerResource(name) {
				errs = append(errs, field.Invalid(kp, name, "must be a standard resource for containers"))
			}
			errs = append(errs, validateQuantityNonnegative(q, kp)...)
		}
	}
	check(r.Limits, p.Child("limits"))
	check(r.Requests, p.Child("requests"))
	for name, req := range r.Requests {
		if limit, ok := r.Limits[name]; ok && req.Cmp(limit) > 0 {
			errs = append(errs, field.Invalid(p.Child("requests").Key(string(name)), req.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		}
	}
	return errs
}

func validateProbe(pr *corev1.Probe, p *field.Path, mustSucceedOnce bool) field.ErrorList {
	if pr == nil {
		return nil
	}
	errs := validateProbeHandler(&pr.ProbeHandler, p)
	errs = append(errs, validateNonnegative(int64(pr.InitialDelaySeconds), p.Child("initialDelaySeconds"))...)
	errs = append(errs, validateNonnegative(int64(pr.TimeoutSeconds), p.Child("timeoutSeconds"))...)
	errs = append(errs, validateNonnegative(int64(pr.PeriodSeconds), p.Child("periodSeconds"))...)
	errs = append(errs, validateNonnegative(int64(pr.SuccessThreshold), p.Child("successThreshold"))...)
	errs = append(errs, validateNonnegative(int64(pr.FailureThreshold), p.Child("failureThreshold"))...)
	if mustSucceedOnce && pr.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(p.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
	}
	if g := pr.TerminationGracePeriodSeconds; g != nil && *g <= 0 {
		errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *g, "must be greater than 0"))
	}
	return errs
}

// validateProbeHandler requires exactly one way of probing.
func validateProbeHandler(h *corev1.ProbeHandler, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	var set []string
	if h.Exec != nil {
		set = append(set, "exec")
	}
	if h.HTTPGet != nil {
		set = append(set, "httpGet")
		errs = append(errs, validateHTTPGet(h.HTTPGet, p.Child("httpGet"))...)
	}
	if h.TCPSocket != nil {
		set = append(set, "tcpSocket")
		errs = append(errs, validatePortNumOrName(h.TCPSocket.Port, p.Child("tcpSocket", "port"))...)
	}
	if h.GRPC != nil {
		set = append(set, "grpc")
		errs = append(errs, validatePortNum(h.GRPC.Port, p.Child("grpc", "port"))...)
	}
	return append(errs, oneHandler(set, p)...)
}

func validateHandler(h *corev1.LifecycleHandler, p *field.Path) field.ErrorList {
	if h == nil {
		return nil
	}
	var errs field.ErrorList
	var set []string
	if h.Exec != nil {
		set = append(set, "exec")
		if len(h.Exec.Command) == 0 {
			errs = append(errs, field.Required(p.Child("exec", "command"), ""))
		}
	}
	if h.HTTPGet != nil {
		set = append(set, "httpGet")
		errs = append(errs, validateHTTPGet(h.HTTPGet, p.Child("httpGet"))...)
	}
	if h.TCPSocket != nil {
		set = append(set, "tcpSocket")
		errs = append(errs, validatePortNumOrName(h.TCPSocket.Port, p.Child("tcpSocket", "port"))...)
	}
	if h.Sleep != nil {
		set = append(set, "sleep")
		errs = append(errs, validateNonnegative(h.Sleep.Seconds, p.Child("sleep", "seconds"))...)
	}
	return append(errs, oneHandler(set, p)...)
}

func oneHandler(set []string, p *field.Path) field.ErrorList {
	switch len(set) {
	case 0:
		return field.ErrorList{field.Required(p, "must specify a handler type")}
	case 1:
		return nil
	}
	return field.ErrorList{field.Forbidden(p.Child(set[1]), "may not specify more than 1 handler type")}
}

func validateHTTPGet(h *corev1.HTTPGetAction, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, validatePortNumOrName(h.Port, p.Child("port"))...)
	errs = append(errs, validateRequiredEnum(h.Scheme, p.Child("scheme"), uriSchemes...)...)
	for i, hdr := range h.HTTPHeaders {
		errs = append(errs, invalidEach(p.Child("httpHeaders").Index(i).Child("name"), hdr.Name, validation.IsHTTPHeaderName(hdr.Name))...)
	}
	return errs
}
