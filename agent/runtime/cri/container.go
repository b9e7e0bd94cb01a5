package cri

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"corral/agent/runtime"
)

// StartContainer pulls the image if the policy asks, then creates and
// starts attempt attempt of c in the pod's ready sandbox. A container
// that was created but failed to start is removed again, so the agent's
// retry creates the same attempt afresh.
func (r *Runtime) StartContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt int32, cfg runtime.ContainerConfig) error {
	sb, err := r.readySandbox(ctx, pod.UID)
	if err != nil {
		return err
	}
	sandboxCfg, err := r.sandboxConfig(pod, sb.GetMetadata().GetAttempt())
	if err != nil {
		return &runtime.StartError{Reason: runtime.ReasonCreateConfigError, Err: err}
	}
	img, err := r.ensureImage(ctx, c, cfg.PullAuth, sandboxCfg)
	if err != nil {
		return err
	}
	ccfg, err := r.containerConfig(pod, c, attempt, cfg, img)
	if err != nil {
		return &runtime.StartError{Reason: runtime.ReasonCreateConfigError, Err: err}
	}
	cctx, cancel := r.call(ctx)
	defer cancel()
	created, err := r.rt.CreateContainer(cctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.Id, Config: ccfg, SandboxConfig: sandboxCfg})
	if err != nil {
		return &runtime.StartError{Reason: runtime.ReasonCreateContainerError, Err: fmt.Errorf("CreateContainer: %w", err)}
	}
	if _, err := r.rt.StartContainer(cctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		if _, rerr := r.rt.RemoveContainer(cctx, &runtimeapi.RemoveContainerRequest{ContainerId: created.ContainerId}); rerr != nil {
			klog.FromContext(ctx).Error(rerr, "removing a container that failed to start", "id", created.ContainerId)
		}
		return &runtime.StartError{Reason: runtime.ReasonRunContainerError, Err: fmt.Errorf("StartContainer: %w", err)}
	}
	return nil
}

// containerConfig is the CRI config of one attempt, as kubelet's
// generateContainerConfig.
func (r *Runtime) containerConfig(pod *corev1.Pod, c *corev1.Container, attempt int32, cfg runtime.ContainerConfig, img *runtimeapi.Image) (*runtimeapi.ContainerConfig, error) {
	env := make(map[string]string, len(cfg.Env))
	envs := make([]*runtimeapi.KeyValue, 0, len(cfg.Env))
	for _, e := range cfg.Env {
		env[e.Name] = e.Value
		envs = append(envs, &runtimeapi.KeyValue{Key: e.Name, Value: []byte(e.Value)})
	}
	expandAll := func(in []string) []string {
		var out []string
		for _, s := range in {
			out = append(out, expand(s, env))
		}
		return out
	}
	labels := map[string]string{LabelContainerName: c.Name, LabelPodName: pod.Name,
		LabelPodNamespace: pod.Namespace, LabelPodUID: string(pod.UID)}
	annotations := map[string]string{
		AnnotationRestartCount: strconv.Itoa(int(attempt)),
		AnnotationGracePeriod:  gracePeriod(pod),
		AnnotationImage:        c.Image,
	}
	ccfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: uint32(attempt)},
		Image:      &runtimeapi.ImageSpec{Image: img.Id, UserSpecifiedImage: c.Image},
		Command:    expandAll(c.Command),
		Args:       expandAll(c.Args),
		WorkingDir: c.WorkingDir,
		Envs:       envs,
		LogPath:    filepath.Join(c.Name, strconv.Itoa(int(attempt))+".log"),
		Stdin:      c.Stdin,
		StdinOnce:  c.StdinOnce,
		Tty:        c.TTY,
		Labels:     labels,
	}
	mounted := map[string]bool{}
	for _, m := range cfg.Mounts {
		mounted[filepath.Clean(m.ContainerPath)] = true
		ccfg.Mounts = append(ccfg.Mounts, &runtimeapi.Mount{ContainerPath: m.ContainerPath, HostPath: m.HostPath,
			Readonly: m.ReadOnly, Propagation: runtimeapi.MountPropagation_PROPAGATION_PRIVATE})
	}
	if p := c.TerminationMessagePath; p != "" && !mounted[filepath.Clean(p)] {
		host, err := r.terminationLog(pod, c.Name, attempt)
		if err != nil {
			return nil, err
		}
		ccfg.Mounts = append(ccfg.Mounts, &runtimeapi.Mount{ContainerPath: p, HostPath: host})
		annotations[AnnotationTerminationPath] = p
		annotations[AnnotationTerminationLogHost] = host
	}
	if c.TerminationMessagePolicy != "" {
		annotations[AnnotationTerminationPolicy] = string(c.TerminationMessagePolicy)
	}
	ccfg.Annotations = annotations
	sc, err := securityContext(pod, c, img)
	if err != nil {
		return nil, err
	}
	ccfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: r.resources(pod, c), SecurityContext: sc}
	return ccfg, nil
}

// terminationLog creates the host file behind terminationMessagePath, in
// the container's log directory (so it goes with the pod), writable by
// any user the container runs as.
func (r *Runtime) terminationLog(pod *corev1.Pod, name string, attempt int32) (string, error) {
	dir := filepath.Join(r.podLogDir(pod.Namespace, pod.Name, pod.UID), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, strconv.Itoa(int(attempt))+".termination")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	f.Close()
	return path, os.Chmod(path, 0o666)
}

// expand replaces $(VAR) by the variable's value as kubelet does for
// command and args: $$ is a literal $, unknown or unterminated
// references stay as written.
func expand(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) {
			switch s[i+1] {
			case '$':
				b.WriteByte('$')
				i++
				continue
			case '(':
				if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
					ref := s[i : i+3+end]
					if v, ok := env[s[i+2:i+2+end]]; ok {
						b.WriteString(v)
					} else {
						b.WriteString(ref)
					}
					i += 2 + end
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
