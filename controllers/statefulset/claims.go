package statefulset

import (
	"context"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

func itoa(i int) string { return strconv.Itoa(i) }

func deleteWhenSetDeleted(set *appsv1.StatefulSet) bool {
	p := set.Spec.PersistentVolumeClaimRetentionPolicy
	return p != nil && p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
}

// newClaim builds the PVC of one template and ordinal: the template's
// labels plus the set's selector labels, owned as the retention policy
// says.
func newClaim(set *appsv1.StatefulSet, template *corev1.PersistentVolumeClaim, ordinal int) *corev1.PersistentVolumeClaim {
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:        claimName(set, template, ordinal),
			Namespace:   set.Namespace,
			Labels:      map[string]string{},
			Annotations: template.Annotations,
		},
		Spec: *template.Spec.DeepCopy(),
	}
	for k, v := range template.Labels {
		claim.Labels[k] = v
	}
	if set.Spec.Selector != nil {
		for k, v := range set.Spec.Selector.MatchLabels {
			claim.Labels[k] = v
		}
	}
	if deleteWhenSetDeleted(set) {
		claim.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)}
	}
	return claim
}

// ensureClaims creates the missing PVCs of an ordinal.
func (c *Controller) ensureClaims(ctx context.Context, set *appsv1.StatefulSet, ordinal int) error {
	var errs []error
	for i := range set.Spec.VolumeClaimTemplates {
		t := &set.Spec.VolumeClaimTemplates[i]
		name := claimName(set, t, ordinal)
		if _, err := c.pvcLister.PersistentVolumeClaims(set.Namespace).Get(name); err == nil {
			continue
		} else if !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		_, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, newClaim(set, t, ordinal), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for StatefulSet %s failed error: %v", name, set.Name, err)
			errs = append(errs, err)
			continue
		}
		if err == nil {
			c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s for StatefulSet %s success", name, set.Name)
		}
	}
	return utilerrors.NewAggregate(errs)
}

// ensureClaimOwners sets the ownerReferences of an ordinal's existing PVCs
// from the retention policy: the set when whenDeleted=Delete, and
// condemned (a pod being scaled away) when whenScaled=Delete. Other
// owners are kept.
func (c *Controller) ensureClaimOwners(ctx context.Context, set *appsv1.StatefulSet, ordinal int, condemned *corev1.Pod) error {
	var errs []error
	for i := range set.Spec.VolumeClaimTemplates {
		t := &set.Spec.VolumeClaimTemplates[i]
		claim, err := c.pvcLister.PersistentVolumeClaims(set.Namespace).Get(claimName(set, t, ordinal))
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var refs []metav1.OwnerReference
		for _, r := range claim.OwnerReferences {
			if r.UID == set.UID || (r.Kind == "Pod" && r.APIVersion == "v1" && r.Name == podName(set, ordinal)) {
				continue // ours to decide
			}
			refs = append(refs, r)
		}
		if deleteWhenSetDeleted(set) {
			refs = append(refs, *metav1.NewControllerRef(set, controllerKind))
		}
		if condemned != nil {
			refs = append(refs, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: condemned.Name, UID: condemned.UID})
		}
		if apiequality.Semantic.DeepEqual(refs, claim.OwnerReferences) || (len(refs) == 0 && len(claim.OwnerReferences) == 0) {
			continue
		}
		updated := claim.DeepCopy()
		updated.OwnerReferences = refs
		if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Update(ctx, updated, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return utilerrors.NewAggregate(errs)
}
