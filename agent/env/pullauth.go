package env

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"

	"corral/agent/runtime"
)

// dockerEntry is one registry of a docker config file.
type dockerEntry struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Auth     string `json:"auth,omitempty"`
}

// PullAuth returns the registry credentials of pod's imagePullSecrets, of
// type kubernetes.io/dockerconfigjson or the legacy kubernetes.io/dockercfg,
// in the order the pod lists them (servers sorted within a secret). As
// kubelet, a missing secret or one of another type is skipped (the pull
// may still work without it); a malformed one is an error.
func PullAuth(ctx context.Context, src Sources, pod *corev1.Pod) ([]runtime.RegistryAuth, error) {
	var out []runtime.RegistryAuth
	for _, ref := range pod.Spec.ImagePullSecrets {
		if ref.Name == "" {
			continue
		}
		s, err := src.Secret(ctx, pod.Namespace, ref.Name)
		if apierrors.IsNotFound(err) {
			klog.InfoS("Image pull secret not found; pulling without it", "pod", klog.KObj(pod), "secret", ref.Name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading image pull secret %s: %w", ref.Name, err)
		}
		auths, err := secretAuths(s)
		if err != nil {
			return nil, fmt.Errorf("image pull secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		out = append(out, auths...)
	}
	return out, nil
}

// secretAuths parses one pull secret (nil for other types).
func secretAuths(s *corev1.Secret) ([]runtime.RegistryAuth, error) {
	var entries map[string]dockerEntry
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		raw, ok := s.Data[corev1.DockerConfigJsonKey]
		if !ok {
			return nil, fmt.Errorf("no %s key", corev1.DockerConfigJsonKey)
		}
		var cfg struct {
			Auths map[string]dockerEntry `json:"auths"`
		}
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", corev1.DockerConfigJsonKey, err)
		}
		entries = cfg.Auths
	case corev1.SecretTypeDockercfg:
		raw, ok := s.Data[corev1.DockerConfigKey]
		if !ok {
			return nil, fmt.Errorf("no %s key", corev1.DockerConfigKey)
		}
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", corev1.DockerConfigKey, err)
		}
	default:
		return nil, nil
	}
	servers := make([]string, 0, len(entries))
	for srv := range entries {
		servers = append(servers, srv)
	}
	sort.Strings(servers)
	out := make([]runtime.RegistryAuth, 0, len(servers))
	for _, srv := range servers {
		e := entries[srv]
		a := runtime.RegistryAuth{Server: srv, Username: e.Username, Password: e.Password, Auth: e.Auth}
		if e.Auth != "" && e.Username == "" && e.Password == "" {
			dec, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return nil, fmt.Errorf("registry %s: auth is not base64: %w", srv, err)
			}
			user, pass, ok := strings.Cut(string(dec), ":")
			if !ok {
				return nil, fmt.Errorf("registry %s: auth is not user:password", srv)
			}
			a.Username, a.Password = user, pass
		}
		out = append(out, a)
	}
	return out, nil
}
