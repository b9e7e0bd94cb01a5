package disruption

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Reasons of the DisruptionTarget pod condition, and the taint manager's
// message, as upstream's.
const (
	ReasonPreemptionByScheduler   = "PreemptionByScheduler"
	ReasonDeletionByTaintManager  = "DeletionByTaintManager"
	ReasonDeletionByPodGC         = "DeletionByPodGC"
	MessageDeletionByTaintManager = "Taint manager: deleting due to NoExecute taint"
)

// Target says why the system is about to delete a pod: the condition's
// reason and message (none when Reason is "").
type Target struct {
	Reason, Message string
	// Fail also sets phase Failed: for pods whose node is gone, which no
	// agent will ever report the end of (as upstream's pod GC).
	Fail bool
}

// MarkTarget adds the DisruptionTarget=True condition to a running pod
// about to be deleted by the system, as upstream's PodDisruptionConditions:
// a Job's podFailurePolicy (onPodConditions DisruptionTarget) can then
// tell "the cluster took it away" from "it failed". A pod already done, or
// already marked (and not to be failed), is left alone; a pod gone or
// replaced meanwhile is no error. It is a strategic merge patch of the
// status with the pod's UID, so it never conflicts with other writers.
func MarkTarget(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, t Target, now time.Time) error {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	marked := false
	for _, c := range pod.Status.Conditions {
		marked = marked || (c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue)
	}
	if marked && !t.Fail {
		return nil
	}
	status := map[string]any{}
	if t.Reason != "" && !marked {
		status["conditions"] = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: t.Reason, Message: t.Message, LastTransitionTime: metav1.NewTime(now)}}
	}
	if t.Fail {
		status["phase"] = corev1.PodFailed
	}
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": pod.UID}, "status": status})
	if err != nil {
		return err
	}
	_, err = client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
