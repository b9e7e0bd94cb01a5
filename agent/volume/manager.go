package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"corral/agent/env"
	"corral/agent/runtime"
)

// Plugin directory names, as kubelet's.
const (
	pluginEmptyDir  = "kubernetes.io~empty-dir"
	pluginConfigMap = "kubernetes.io~configmap"
	pluginSecret    = "kubernetes.io~secret"
	pluginDownward  = "kubernetes.io~downward-api"
	pluginProjected = "kubernetes.io~projected"
)

// Manager sets up, refreshes and removes the volumes of a node's pods.
// Its methods are safe for concurrent use on different pods.
type Manager struct {
	// Client reads PersistentVolumeClaims and PersistentVolumes.
	Client kubernetes.Interface
	// Sources reads ConfigMaps, Secrets and the node (allocatable for
	// downwardAPI resourceFieldRef); share the one env.Resolve uses.
	Sources env.Sources
	// RootDir holds one directory per pod UID (e.g. <agent data>/pods).
	RootDir string
	// Clock names the atomic writer's timestamped directories (default:
	// the real clock).
	Clock clock.PassiveClock
	// ClusterDomain names pods with a subdomain in their /etc/hosts
	// (default cluster.local).
	ClusterDomain string
	// NodeHostsFile is copied into hostNetwork pods' /etc/hosts (default
	// /etc/hosts).
	NodeHostsFile string

	mu     sync.Mutex
	pods   map[types.UID]map[string]hostVolume
	tokens tokenCache // service account tokens of projected volumes (token.go)
}

// hostVolume is a set-up volume: where it is on the host.
type hostVolume struct {
	path     string
	readOnly bool // for every mount of it (API data volumes, read-only claims)
}

// PodDir is where the pod's volumes live.
func (m *Manager) PodDir(uid types.UID) string { return filepath.Join(m.RootDir, string(uid)) }

func (m *Manager) volumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.PodDir(uid), "volumes", plugin, name)
}

func (m *Manager) now() clock.PassiveClock {
	if m.Clock == nil {
		return clock.RealClock{}
	}
	return m.Clock
}

func checkName(kind, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("invalid %s %q", kind, name)
	}
	return nil
}

// SetUp prepares every volume of pod. It is idempotent and cheap to call
// on each sync: volumes already set up are left alone, except that the
// content of configMap, secret, downwardAPI and projected volumes is
// refreshed when it changed. All volumes are tried; the error joins the
// failures.
func (m *Manager) SetUp(ctx context.Context, pod *corev1.Pod) error {
	if m.RootDir == "" {
		return errors.New("volume manager has no RootDir")
	}
	if err := checkName("pod UID", string(pod.UID)); err != nil {
		return err
	}
	m.mu.Lock()
	known := m.pods[pod.UID]
	m.mu.Unlock()

	ready := make(map[string]hostVolume, len(pod.Spec.Volumes))
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if err := checkName("volume name", v.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		if hv, ok := known[v.Name]; ok && !isContent(v) {
			ready[v.Name] = hv
			continue
		}
		hv, err := m.setUpVolume(ctx, pod, v)
		if err != nil {
			errs = append(errs, err)
			if old, ok := known[v.Name]; ok {
				ready[v.Name] = old // a failed refresh keeps the last content
			}
			continue
		}
		ready[v.Name] = hv
	}
	m.mu.Lock()
	if m.pods == nil {
		m.pods = map[types.UID]map[string]hostVolume{}
	}
	m.pods[pod.UID] = ready
	m.mu.Unlock()
	return errors.Join(errs...)
}

// Refresh re-writes the content volumes (configMap, secret, downwardAPI,
// projected) of a set-up pod whose objects or fields changed.
func (m *Manager) Refresh(ctx context.Context, pod *corev1.Pod) error {
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if !isContent(v) {
			continue
		}
		if _, err := m.setUpVolume(ctx, pod, v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func isContent(v *corev1.Volume) bool {
	return v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil
}

func (m *Manager) setUpVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (hostVolume, error) {
	var fsGroup *int64
	if pod.Spec.SecurityContext != nil {
		fsGroup = pod.Spec.SecurityContext.FSGroup
	}
	switch {
	case v.EmptyDir != nil:
		dir := m.volumeDir(pod.UID, pluginEmptyDir, v.Name)
		if err := setUpEmptyDir(dir, v.EmptyDir, fsGroup); err != nil {
			return hostVolume{}, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		return hostVolume{path: dir}, nil
	case v.HostPath != nil:
		if !filepath.IsAbs(v.HostPath.Path) {
			return hostVolume{}, fmt.Errorf("volume %q: hostPath %q is not absolute", v.Name, v.HostPath.Path)
		}
		if err := checkHostPath(v.HostPath.Path, v.HostPath.Type); err != nil {
			return hostVolume{}, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		return hostVolume{path: filepath.Clean(v.HostPath.Path)}, nil
	case v.PersistentVolumeClaim != nil:
		path, err := m.claimPath(ctx, pod, v.PersistentVolumeClaim.ClaimName, false)
		if err != nil {
			return hostVolume{}, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		return hostVolume{path: path, readOnly: v.PersistentVolumeClaim.ReadOnly}, nil
	case v.Ephemeral != nil:
		// The ephemeral volume controller names the claim <pod>-<volume>.
		path, err := m.claimPath(ctx, pod, pod.Name+"-"+v.Name, true)
		if err != nil {
			return hostVolume{}, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		return hostVolume{path: path}, nil
	}
	if m.Sources == nil {
		return hostVolume{}, fmt.Errorf("volume %q: volume manager has no Sources", v.Name)
	}
	files, ok, err := contentPayload(ctx, m.Sources, m.token, pod, v)
	if err != nil {
		return hostVolume{}, err
	}
	if !ok {
		return hostVolume{}, fmt.Errorf("volume %q: type %s is not supported by corral", v.Name, volumeType(v))
	}
	var plugin string
	switch {
	case v.ConfigMap != nil:
		plugin = pluginConfigMap
	case v.Secret != nil:
		plugin = pluginSecret
	case v.DownwardAPI != nil:
		plugin = pluginDownward
	default:
		plugin = pluginProjected
	}
	dir := m.volumeDir(pod.UID, plugin, v.Name)
	if _, err := writeAtomic(dir, files, m.now().Now(), fsGroup); err != nil {
		return hostVolume{}, fmt.Errorf("volume %q: writing content: %w", v.Name, err)
	}
	return hostVolume{path: dir, readOnly: true}, nil
}

// setUpEmptyDir makes the directory (world-writable, as kubelet's) and,
// for medium Memory, mounts a tmpfs sized by sizeLimit on it.
func setUpEmptyDir(dir string, src *corev1.EmptyDirVolumeSource, fsGroup *int64) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	switch src.Medium {
	case corev1.StorageMediumDefault:
	case corev1.StorageMediumMemory:
		if err := mountTmpfs(dir, src.SizeLimit); err != nil {
			return err
		}
	default:
		return fmt.Errorf("emptyDir medium %q is not supported by corral", src.Medium)
	}
	mode := os.FileMode(0o777)
	if fsGroup != nil {
		if err := os.Lchown(dir, -1, int(*fsGroup)); err != nil {
			return err
		}
		mode |= os.ModeSetgid
	}
	return os.Chmod(dir, mode)
}

// volumeType names a volume's source for error messages.
func volumeType(v *corev1.Volume) string {
	s := v.VolumeSource
	switch {
	case s.NFS != nil:
		return "nfs"
	case s.ISCSI != nil:
		return "iscsi"
	case s.CSI != nil:
		return "csi"
	case s.Image != nil:
		return "image"
	case s.GitRepo != nil:
		return "gitRepo"
	case s.FC != nil:
		return "fc"
	case s.AWSElasticBlockStore != nil:
		return "awsElasticBlockStore"
	case s.GCEPersistentDisk != nil:
		return "gcePersistentDisk"
	case s.AzureDisk != nil:
		return "azureDisk"
	case s.AzureFile != nil:
		return "azureFile"
	case s.CephFS != nil:
		return "cephfs"
	case s.RBD != nil:
		return "rbd"
	case s.Cinder != nil:
		return "cinder"
	case s.Glusterfs != nil:
		return "glusterfs"
	case s.FlexVolume != nil:
		return "flexVolume"
	}
	return "(unknown or none)"
}

// Mounts maps container c's volumeMounts to host paths. env is the
// container's resolved environment, used to expand subPathExpr (nil when
// there is none). A subPath that does not exist is created as a
// directory; one that leaves its volume (through "..", or a symlink a
// container planted) is refused.
func (m *Manager) Mounts(pod *corev1.Pod, c *corev1.Container, envVars []corev1.EnvVar) ([]runtime.Mount, error) {
	m.mu.Lock()
	vols := m.pods[pod.UID]
	m.mu.Unlock()
	var lookup func(string) (string, bool)
	out := make([]runtime.Mount, 0, len(c.VolumeMounts))
	for _, vm := range c.VolumeMounts {
		hv, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q: volume is not set up (missing from the pod or SetUp failed)", vm.Name)
		}
		if !filepath.IsAbs(vm.MountPath) {
			return nil, fmt.Errorf("volumeMount %q: mountPath %q is not absolute", vm.Name, vm.MountPath)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			if lookup == nil {
				vars := make(map[string]string, len(envVars))
				for _, e := range envVars {
					vars[e.Name] = e.Value
				}
				lookup = env.MapLookup(vars)
			}
			sub = env.Expand(vm.SubPathExpr, lookup)
		}
		host := hv.path
		if sub != "" {
			var err error
			if host, err = subPath(hv.path, sub); err != nil {
				return nil, fmt.Errorf("volumeMount %q: %w", vm.Name, err)
			}
		}
		out = append(out, runtime.Mount{HostPath: host, ContainerPath: vm.MountPath, ReadOnly: vm.ReadOnly || hv.readOnly})
	}
	return out, nil
}

// subPath resolves sub inside the volume at base, creating it as a
// directory (with the volume's permissions) when missing.
func subPath(base, sub string) (string, error) {
	if filepath.IsAbs(sub) {
		return "", fmt.Errorf("subPath %q must be relative", sub)
	}
	for _, part := range strings.Split(filepath.ToSlash(sub), "/") {
		if part == ".." {
			return "", fmt.Errorf("subPath %q must not contain '..'", sub)
		}
	}
	root, err := filepath.EvalSymlinks(base)
	if err != nil {
		return "", fmt.Errorf("volume path %s: %w", base, err)
	}
	path := filepath.Join(root, sub)
	if _, err := os.Lstat(path); os.IsNotExist(err) {
		info, err := os.Stat(root)
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(path, info.Mode().Perm()); err != nil {
			return "", fmt.Errorf("creating subPath %q: %w", sub, err)
		}
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("subPath %q: %w", sub, err)
	}
	if resolved != root && !strings.HasPrefix(resolved, root+string(filepath.Separator)) {
		return "", fmt.Errorf("subPath %q resolves to %s, outside of the volume", sub, resolved)
	}
	return resolved, nil
}

// TearDown unmounts what SetUp mounted for the pod (tmpfs emptyDirs) and
// removes the pod's directory. It refuses to remove anything while a
// mount under it remains, so a failed unmount never deletes what a mount
// shows.
func (m *Manager) TearDown(uid types.UID) error {
	if err := checkName("pod UID", string(uid)); err != nil {
		return err
	}
	dir := m.PodDir(uid)
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		m.forget(uid)
		return nil
	}
	if err := unmountUnder(dir); err != nil {
		return err
	}
	if left, err := mountsUnder(dir); err != nil {
		return err
	} else if len(left) > 0 {
		return fmt.Errorf("pod %s: still mounted: %s", uid, strings.Join(left, ", "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	m.forget(uid)
	return nil
}

func (m *Manager) forget(uid types.UID) {
	m.mu.Lock()
	delete(m.pods, uid)
	m.mu.Unlock()
	m.tokens.forget(uid)
}
