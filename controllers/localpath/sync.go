package localpath

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// sync provisions, binds or reclaims for one claim key.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil // a bad key will not get better
	}
	claim, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		claim = nil
	case err != nil:
		return 0, err
	}
	if err := c.reclaim(ctx, ns, name, claim); err != nil {
		return 0, err
	}
	if claim == nil || claim.DeletionTimestamp != nil {
		return 0, nil
	}
	if claim.Spec.VolumeName != "" {
		pv, err := c.volumes.Get(claim.Spec.VolumeName)
		if apierrors.IsNotFound(err) {
			return 0, nil // not one of ours, or a PV someone else manages
		}
		if err != nil {
			return 0, err
		}
		if ours(pv) && pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.UID == claim.UID {
			return 0, c.completeBinding(ctx, claim, pv)
		}
		return 0, nil
	}
	class := c.classOf(claim)
	if class == nil {
		return 0, nil
	}
	node := claim.Annotations[AnnSelectedNode]
	if node == "" {
		node = c.consumerNode(claim)
	}
	if node == "" {
		if class.VolumeBindingMode == nil || *class.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
			c.recorder.Eventf(claim, corev1.EventTypeWarning, "ProvisioningFailed",
				"storageclass %q: the %s provisioner needs volumeBindingMode WaitForFirstConsumer (or the %s annotation)",
				class.Name, Provisioner, AnnSelectedNode)
		}
		return 0, nil // the pod informer brings the claim back once a consumer is scheduled
	}
	pv, err := c.newVolume(claim, class, node)
	if err != nil {
		c.recorder.Event(claim, corev1.EventTypeWarning, "ProvisioningFailed", err.Error())
		return 0, nil
	}
	created, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// An earlier sync created it and failed later: finish its binding.
		created, err = c.client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if err == nil && (!ours(created) || created.Spec.ClaimRef == nil || created.Spec.ClaimRef.UID != claim.UID) {
			return 0, fmt.Errorf("persistentvolume %s exists and is not the volume of claim %s", pv.Name, key)
		}
	} else if err == nil {
		klog.FromContext(ctx).V(2).Info("provisioned volume", "claim", key, "pv", created.Name, "node", node, "path", pv.Spec.HostPath.Path)
		c.recorder.Eventf(claim, corev1.EventTypeNormal, "ProvisioningSucceeded",
			"Successfully provisioned volume %s on node %s", created.Name, node)
	}
	if err != nil {
		return 0, err
	}
	if err := c.completeBinding(ctx, claim, created); err != nil {
		return 0, err
	}
	return 0, nil
}

// classOf returns the claim's class when this controller serves it.
func (c *Controller) classOf(claim *corev1.PersistentVolumeClaim) *storagev1.StorageClass {
	if claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName == "" {
		return nil // admission gives claims without a class the default one
	}
	class, err := c.classes.Get(*claim.Spec.StorageClassName)
	if err != nil || class.Provisioner != Provisioner {
		return nil
	}
	return class
}

// consumerNode is the node of a scheduled, not finished pod using claim.
func (c *Controller) consumerNode(claim *corev1.PersistentVolumeClaim) string {
	pods, err := c.pods.Pods(claim.Namespace).List(labels.Everything())
	if err != nil {
		return ""
	}
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, n := range ClaimNames(p) {
			if n == claim.Name {
				return p.Spec.NodeName
			}
		}
	}
	return ""
}

// VolumeName is the name of the PV provisioned for a claim.
func VolumeName(claim *corev1.PersistentVolumeClaim) string { return "pvc-" + string(claim.UID) }

// Path is the directory of a claim's volume on its node under root.
func Path(root string, claim *corev1.PersistentVolumeClaim) string {
	return filepath.Join(root, VolumeName(claim)+"_"+claim.Namespace+"_"+claim.Name)
}

func (c *Controller) newVolume(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, node string) (*corev1.PersistentVolume, error) {
	size, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil, fmt.Errorf("claim %s/%s requests no storage (spec.resources.requests.storage)", claim.Namespace, claim.Name)
	}
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return nil, fmt.Errorf("claim %s/%s: the %s provisioner makes only Filesystem volumes", claim.Namespace, claim.Name, Provisioner)
	}
	if claim.Spec.Selector != nil {
		return nil, fmt.Errorf("claim %s/%s: the %s provisioner does not support a selector", claim.Namespace, claim.Name, Provisioner)
	}
	policy := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		policy = *class.ReclaimPolicy
	}
	modes := claim.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	fs := corev1.PersistentVolumeFilesystem
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        VolumeName(claim),
			Annotations: map[string]string{AnnProvisionedBy: Provisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes: append([]corev1.PersistentVolumeAccessMode(nil), modes...),
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: Path(c.opts.Root, claim), Type: &dirOrCreate},
			},
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID, ResourceVersion: claim.ResourceVersion},
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    &fs,
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node},
				}}}},
			}},
		},
	}, nil
}

// completeBinding brings the PV and the claim to Bound, each step only
// when not done yet: PV status, claim spec and annotations, claim status.
func (c *Controller) completeBinding(ctx context.Context, claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	if pv.Status.Phase != corev1.VolumeBound {
		pv = pv.DeepCopy()
		pv.Status.Phase = corev1.VolumeBound
		pv.Status.Message, pv.Status.Reason = "", ""
		if _, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	if claim.Spec.VolumeName != pv.Name || claim.Annotations[AnnBindCompleted] != "yes" {
		claim = claim.DeepCopy()
		claim.Spec.VolumeName = pv.Name
		if claim.Annotations == nil {
			claim.Annotations = map[string]string{}
		}
		claim.Annotations[AnnBindCompleted] = "yes"
		claim.Annotations[AnnBoundByController] = "yes"
		claim.Annotations[AnnStorageProvisioner] = Provisioner
		claim.Annotations[AnnBetaStorageProv] = Provisioner
		updated, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
		claim = updated
	}
	if claim.Status.Phase != corev1.ClaimBound || claim.Status.Capacity == nil {
		claim = claim.DeepCopy()
		claim.Status.Phase = corev1.ClaimBound
		claim.Status.Capacity = pv.Spec.Capacity.DeepCopy()
		claim.Status.AccessModes = append([]corev1.PersistentVolumeAccessMode(nil), pv.Spec.AccessModes...)
		if _, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// reclaim handles our volumes whose claim ns/name is gone or was
// replaced: Delete removes the PV, Retain marks it Released.
func (c *Controller) reclaim(ctx context.Context, ns, name string, claim *corev1.PersistentVolumeClaim) error {
	pvs, err := c.volumes.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, pv := range pvs {
		ref := pv.Spec.ClaimRef
		if !ours(pv) || ref == nil || ref.Namespace != ns || ref.Name != name || pv.DeletionTimestamp != nil {
			continue
		}
		if claim != nil && claim.UID == ref.UID {
			continue
		}
		if pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
			uid := pv.UID
			opts := metav1.DeleteOptions{}
			if uid != "" {
				opts.Preconditions = &metav1.Preconditions{UID: &uid}
			}
			err := c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, opts)
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			klog.FromContext(ctx).V(2).Info("deleted volume of a deleted claim", "pv", pv.Name, "claim", ns+"/"+name)
			continue
		}
		if pv.Status.Phase != corev1.VolumeReleased {
			pv = pv.DeepCopy()
			pv.Status.Phase = corev1.VolumeReleased
			if _, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}
