package volume

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// claimPath returns the host path of a PersistentVolumeClaim's volume.
// corral mounts claims bound to hostPath or local PersistentVolumes; any
// other volume needs a plugin corral does not have. ephemeral claims must
// be owned by the pod, as kubelet checks.
func (m *Manager) claimPath(ctx context.Context, pod *corev1.Pod, claimName string, ephemeral bool) (string, error) {
	if m.Client == nil {
		return "", fmt.Errorf("volume manager has no API client for persistentvolumeclaim %q", claimName)
	}
	pvc, err := m.Client.CoreV1().PersistentVolumeClaims(pod.Namespace).Get(ctx, claimName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("persistentvolumeclaim %s/%s: %w", pod.Namespace, claimName, err)
	}
	if ephemeral {
		owner := metav1.GetControllerOf(pvc)
		if owner == nil || owner.UID != pod.UID {
			return "", fmt.Errorf("persistentvolumeclaim %s/%s was not created for this pod", pod.Namespace, claimName)
		}
	}
	if pvc.DeletionTimestamp != nil {
		return "", fmt.Errorf("persistentvolumeclaim %s/%s is being deleted", pod.Namespace, claimName)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("persistentvolumeclaim %s/%s is not bound (phase %q)", pod.Namespace, claimName, pvc.Status.Phase)
	}
	pv, err := m.Client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("persistentvolume %s of claim %s/%s: %w", pvc.Spec.VolumeName, pod.Namespace, claimName, err)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != pvc.Namespace || ref.Name != pvc.Name || (ref.UID != "" && ref.UID != pvc.UID) {
		return "", fmt.Errorf("persistentvolume %s is not bound to claim %s/%s", pv.Name, pod.Namespace, claimName)
	}
	switch {
	case pv.Spec.HostPath != nil:
		if err := checkHostPath(pv.Spec.HostPath.Path, pv.Spec.HostPath.Type); err != nil {
			return "", fmt.Errorf("persistentvolume %s: %w", pv.Name, err)
		}
		return pv.Spec.HostPath.Path, nil
	case pv.Spec.Local != nil:
		if _, err := os.Stat(pv.Spec.Local.Path); err != nil {
			return "", fmt.Errorf("persistentvolume %s: local path: %w", pv.Name, err)
		}
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("persistentvolume %s is neither hostPath nor local: corral mounts only those (no volume plugins or CSI)", pv.Name)
}
