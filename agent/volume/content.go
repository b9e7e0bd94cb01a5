package volume

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"corral/agent/env"
)

// defaultMode is kubelet's mode for projected files without one.
const defaultMode = 0o644

func fileMode(item *int32, def *int32) os.FileMode {
	switch {
	case item != nil:
		return os.FileMode(*item) & 0o777
	case def != nil:
		return os.FileMode(*def) & 0o777
	}
	return defaultMode
}

func isTrue(b *bool) bool { return b != nil && *b }

// payloadBuilder gathers the files of one content volume. Objects are
// read through the shared Sources cache.
type payloadBuilder struct {
	ctx   context.Context
	src   env.Sources
	pod   *corev1.Pod
	files map[string]file
	// token returns the service account token of a projection.
	token tokenSource
}

func (b *payloadBuilder) add(path string, data []byte, mode os.FileMode) error {
	if _, dup := b.files[path]; dup {
		return fmt.Errorf("two sources write the file %q", path)
	}
	b.files[path] = file{data: data, mode: mode}
	return nil
}

// keys adds the entries of a ConfigMap or Secret (all of them, or the
// listed items), as kubelet's configMap and secret volumes do.
func (b *payloadBuilder) keys(kind, name string, data map[string][]byte, items []corev1.KeyToPath, def *int32, optional bool) error {
	if len(items) == 0 {
		for k, v := range data {
			if err := b.add(k, v, fileMode(nil, def)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("%s %q references non-existent key: %s", kind, name, it.Key)
		}
		if err := b.add(it.Path, v, fileMode(it.Mode, def)); err != nil {
			return err
		}
	}
	return nil
}

func (b *payloadBuilder) configMap(name string, items []corev1.KeyToPath, def *int32, optional *bool) error {
	cm, err := b.src.ConfigMap(b.ctx, b.pod.Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && isTrue(optional) {
			return nil
		}
		return fmt.Errorf("configmap %s/%s: %w", b.pod.Namespace, name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return b.keys("configmap", name, data, items, def, isTrue(optional))
}

func (b *payloadBuilder) secret(name string, items []corev1.KeyToPath, def *int32, optional *bool) error {
	s, err := b.src.Secret(b.ctx, b.pod.Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && isTrue(optional) {
			return nil
		}
		return fmt.Errorf("secret %s/%s: %w", b.pod.Namespace, name, err)
	}
	return b.keys("secret", name, s.Data, items, def, isTrue(optional))
}

func (b *payloadBuilder) downwardAPI(items []corev1.DownwardAPIVolumeFile, def *int32) error {
	var alloc corev1.ResourceList
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = env.FieldValue(b.pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			if alloc == nil {
				node, nerr := b.src.Node(b.ctx)
				if nerr != nil {
					return fmt.Errorf("downwardAPI %s: reading the node: %w", it.Path, nerr)
				}
				alloc = node.Status.Allocatable
			}
			v, err = env.ResourceValue(it.ResourceFieldRef, b.pod, nil, alloc)
		default:
			err = fmt.Errorf("no fieldRef or resourceFieldRef")
		}
		if err != nil {
			return fmt.Errorf("downwardAPI %s: %w", it.Path, err)
		}
		if err := b.add(it.Path, []byte(v), fileMode(it.Mode, def)); err != nil {
			return err
		}
	}
	return nil
}

func (b *payloadBuilder) serviceAccountToken(p *corev1.ServiceAccountTokenProjection, def *int32) error {
	if b.token == nil {
		return fmt.Errorf("serviceAccountToken %s: no token source", p.Path)
	}
	tok, err := b.token(b.ctx, b.pod, p)
	if err != nil {
		return fmt.Errorf("serviceAccountToken %s: %w", p.Path, err)
	}
	return b.add(p.Path, []byte(tok), fileMode(nil, def))
}

func (b *payloadBuilder) projected(p *corev1.ProjectedVolumeSource) error {
	for _, s := range p.Sources {
		var err error
		switch {
		case s.ConfigMap != nil:
			err = b.configMap(s.ConfigMap.Name, s.ConfigMap.Items, p.DefaultMode, s.ConfigMap.Optional)
		case s.Secret != nil:
			err = b.secret(s.Secret.Name, s.Secret.Items, p.DefaultMode, s.Secret.Optional)
		case s.DownwardAPI != nil:
			err = b.downwardAPI(s.DownwardAPI.Items, p.DefaultMode)
		case s.ServiceAccountToken != nil:
			err = b.serviceAccountToken(s.ServiceAccountToken, p.DefaultMode)
		case s.ClusterTrustBundle != nil:
			err = fmt.Errorf("clusterTrustBundle sources are not supported by corral")
		case s.PodCertificate != nil:
			err = fmt.Errorf("podCertificate sources are not supported by corral")
		default:
			err = fmt.Errorf("projection with no source")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// tokenSource gives the token of a serviceAccountToken projection.
type tokenSource func(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error)

// contentPayload builds the files of a configMap, secret, downwardAPI or
// projected volume; ok is false for other volume types.
func contentPayload(ctx context.Context, src env.Sources, token tokenSource, pod *corev1.Pod, v *corev1.Volume) (files map[string]file, ok bool, err error) {
	b := &payloadBuilder{ctx: ctx, src: src, pod: pod, files: map[string]file{}, token: token}
	switch {
	case v.ConfigMap != nil:
		err = b.configMap(v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, v.ConfigMap.Optional)
	case v.Secret != nil:
		err = b.secret(v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, v.Secret.Optional)
	case v.DownwardAPI != nil:
		err = b.downwardAPI(v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
	case v.Projected != nil:
		err = b.projected(v.Projected)
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("volume %q: %w", v.Name, err)
	}
	return b.files, true, nil
}
