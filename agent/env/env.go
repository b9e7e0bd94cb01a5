package env

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"
)

// isAnswer tells errors that are the API's answer about an object (it is
// missing) from failures to ask; only answers are cached.
func isAnswer(err error) bool { return apierrors.IsNotFound(err) }

// Resolve returns container c's environment as kubelet builds it: envFrom
// sources first (later ones and then env entries override earlier names
// in place), then env in order, each literal value expanded against the
// names defined before it and the service variables, then the service
// variables not otherwise defined, sorted. A missing ConfigMap, Secret or
// key that is not optional is an error (the agent reports it as
// CreateContainerConfigError). status.podIP(s) come from pod.Status (see
// WithIPs); status.hostIP(s) fall back to the node's addresses.
func Resolve(ctx context.Context, src Sources, pod *corev1.Pod, c *corev1.Container) ([]corev1.EnvVar, error) {
	r := resolver{ctx: ctx, src: src, pod: pod, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	out := ordered{values: map[string]string{}}
	for _, from := range c.EnvFrom {
		data, name, kind, err := r.envFromData(from)
		if err != nil {
			return nil, err
		}
		var invalid []string
		for _, k := range sortedKeys(data) {
			key := from.Prefix + k
			if len(validation.IsRelaxedEnvVarName(key)) > 0 {
				invalid = append(invalid, key)
				continue
			}
			out.set(key, data[k])
		}
		if len(invalid) > 0 {
			klog.InfoS("Skipped invalid environment variable names from envFrom", "pod", klog.KObj(pod), "container", c.Name, "source", kind+"/"+name, "keys", invalid)
		}
	}
	services, err := serviceVars(ctx, src, pod)
	if err != nil {
		return nil, err
	}
	serviceMap := make(map[string]string, len(services))
	for _, e := range services {
		serviceMap[e.Name] = e.Value
	}
	lookup := MapLookup(out.values, serviceMap)
	for i := range c.Env {
		e := &c.Env[i]
		value := e.Value
		switch {
		case value != "":
			value = Expand(value, lookup)
		case e.ValueFrom != nil:
			v, skip, err := r.valueFrom(c, e)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			if skip {
				continue
			}
			value = v
		}
		out.set(e.Name, value)
	}
	for _, e := range services {
		if _, defined := out.values[e.Name]; !defined {
			out.set(e.Name, e.Value)
		}
	}
	return out.list(), nil
}

// ordered is an environment keeping each name at its first position.
type ordered struct {
	names  []string
	values map[string]string
}

func (o *ordered) set(name, value string) {
	if o.values == nil {
		o.values = map[string]string{}
	}
	if _, ok := o.values[name]; !ok {
		o.names = append(o.names, name)
	}
	o.values[name] = value
}

func (o *ordered) list() []corev1.EnvVar {
	out := make([]corev1.EnvVar, len(o.names))
	for i, n := range o.names {
		out[i] = corev1.EnvVar{Name: n, Value: o.values[n]}
	}
	return out
}

// resolver remembers the objects one Resolve call has read, so that each
// is read once and every reference sees the same version.
type resolver struct {
	ctx        context.Context
	src        Sources
	pod        *corev1.Pod
	node       *corev1.Node
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func (r *resolver) configMap(name string) (*corev1.ConfigMap, error) {
	if cm, ok := r.configMaps[name]; ok {
		return cm, nil
	}
	cm, err := r.src.ConfigMap(r.ctx, r.pod.Namespace, name)
	if err != nil {
		return nil, err
	}
	r.configMaps[name] = cm
	return cm, nil
}

func (r *resolver) secret(name string) (*corev1.Secret, error) {
	if s, ok := r.secrets[name]; ok {
		return s, nil
	}
	s, err := r.src.Secret(r.ctx, r.pod.Namespace, name)
	if err != nil {
		return nil, err
	}
	r.secrets[name] = s
	return s, nil
}

func (r *resolver) getNode() (*corev1.Node, error) {
	if r.node == nil {
		n, err := r.src.Node(r.ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the node: %w", err)
		}
		r.node = n
	}
	return r.node, nil
}

// envFromData returns the entries of one envFrom source (nil for a
// missing optional one).
func (r *resolver) envFromData(from corev1.EnvFromSource) (map[string]string, string, string, error) {
	switch {
	case from.ConfigMapRef != nil:
		ref := from.ConfigMapRef
		cm, err := r.configMap(ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(ref.Optional) {
				return nil, ref.Name, "configmap", nil
			}
			return nil, "", "", err
		}
		data := make(map[string]string, len(cm.Data))
		for k, v := range cm.Data {
			data[k] = v
		}
		return data, ref.Name, "configmap", nil
	case from.SecretRef != nil:
		ref := from.SecretRef
		s, err := r.secret(ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(ref.Optional) {
				return nil, ref.Name, "secret", nil
			}
			return nil, "", "", err
		}
		data := make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			data[k] = string(v)
		}
		return data, ref.Name, "secret", nil
	}
	return nil, "", "", fmt.Errorf("envFrom entry without configMapRef or secretRef")
}

// valueFrom resolves one env entry's source; skip is true for a missing
// optional reference (the variable is then not set at all).
func (r *resolver) valueFrom(c *corev1.Container, e *corev1.EnvVar) (value string, skip bool, err error) {
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		pod := r.pod
		if strings.HasPrefix(vf.FieldRef.FieldPath, "status.hostIP") && pod.Status.HostIP == "" && len(pod.Status.HostIPs) == 0 {
			node, err := r.getNode()
			if err != nil {
				return "", false, err
			}
			pod = WithIPs(pod, nil, NodeIPs(node))
		}
		v, err := FieldValue(pod, vf.FieldRef.FieldPath)
		return v, false, err
	case vf.ResourceFieldRef != nil:
		var alloc corev1.ResourceList
		if needsAllocatable(vf.ResourceFieldRef, r.pod, c) {
			node, err := r.getNode()
			if err != nil {
				return "", false, err
			}
			alloc = node.Status.Allocatable
		}
		v, err := ResourceValue(vf.ResourceFieldRef, r.pod, c, alloc)
		return v, false, err
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		optional := isTrue(ref.Optional)
		cm, err := r.configMap(ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", true, nil
			}
			return "", false, err
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if optional {
				return "", true, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, r.pod.Namespace, ref.Name)
		}
		return v, false, nil
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		optional := isTrue(ref.Optional)
		s, err := r.secret(ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", true, nil
			}
			return "", false, err
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if optional {
				return "", true, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, r.pod.Namespace, ref.Name)
		}
		return string(v), false, nil
	case vf.FileKeyRef != nil:
		return "", false, fmt.Errorf("valueFrom.fileKeyRef is not supported by corral")
	}
	return "", false, fmt.Errorf("valueFrom names no source")
}

// needsAllocatable tells whether a resourceFieldRef asks for a limit the
// container does not set, which the node's allocatable then stands for.
func needsAllocatable(fs *corev1.ResourceFieldSelector, pod *corev1.Pod, c *corev1.Container) bool {
	name, ok := strings.CutPrefix(fs.Resource, "limits.")
	if !ok {
		return false
	}
	if fs.ContainerName != "" {
		c = findContainer(pod, fs.ContainerName)
	}
	if c == nil {
		return false
	}
	_, set := c.Resources.Limits[corev1.ResourceName(name)]
	return !set
}

func isTrue(b *bool) bool { return b != nil && *b }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// serviceVars returns the service link variables of pod: those of the
// kubernetes service in default always, and of the services in the pod's
// namespace unless enableServiceLinks is false; sorted by service name.
func serviceVars(ctx context.Context, src Sources, pod *corev1.Pod) ([]corev1.EnvVar, error) {
	byName := map[string]*corev1.Service{}
	master, err := src.Service(ctx, corev1.NamespaceDefault, "kubernetes")
	switch {
	case err == nil:
		byName[master.Name] = master
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading service default/kubernetes: %w", err)
	}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		list, err := src.Services(ctx, pod.Namespace)
		if err != nil {
			return nil, fmt.Errorf("listing services of namespace %s: %w", pod.Namespace, err)
		}
		for _, s := range list {
			byName[s.Name] = s
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []corev1.EnvVar
	for _, n := range names {
		out = append(out, ServiceVars(byName[n])...)
	}
	return out, nil
}

// ServiceVars returns one service's link variables (FOO_SERVICE_HOST,
// FOO_SERVICE_PORT, FOO_SERVICE_PORT_<NAME>, and Docker-style FOO_PORT,
// FOO_PORT_80_TCP, ..._PROTO, ..._PORT, ..._ADDR); none for headless or
// ExternalName services.
func ServiceVars(s *corev1.Service) []corev1.EnvVar {
	ip := s.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
		return nil
	}
	prefix := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
	servicePort := prefix + "_SERVICE_PORT"
	out := []corev1.EnvVar{
		{Name: prefix + "_SERVICE_HOST", Value: ip},
		{Name: servicePort, Value: strconv.Itoa(int(s.Spec.Ports[0].Port))},
	}
	for _, p := range s.Spec.Ports {
		if p.Name != "" {
			out = append(out, corev1.EnvVar{
				Name:  servicePort + "_" + strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")),
				Value: strconv.Itoa(int(p.Port)),
			})
		}
	}
	for i, p := range s.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		port := strconv.Itoa(int(p.Port))
		url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, port)
		if i == 0 {
			out = append(out, corev1.EnvVar{Name: prefix + "_PORT", Value: url})
		}
		pp := prefix + "_PORT_" + port + "_" + strings.ToUpper(proto)
		out = append(out,
			corev1.EnvVar{Name: pp, Value: url},
			corev1.EnvVar{Name: pp + "_PROTO", Value: strings.ToLower(proto)},
			corev1.EnvVar{Name: pp + "_PORT", Value: port},
			corev1.EnvVar{Name: pp + "_ADDR", Value: ip},
		)
	}
	return out
}
