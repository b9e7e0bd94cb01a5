package apiserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/util/dryrun"
)

var podHooks = hooks{
	prepareForCreate: func(_ context.Context, obj runtime.Object) {
		pod := obj.(*corev1.Pod)
		pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&pod.Spec)}
	},
	gracefulDelete: func(_ context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool {
		if options == nil {
			return false
		}
		pod := obj.(*corev1.Pod)
		var period int64
		switch {
		case options.GracePeriodSeconds != nil:
			period = *options.GracePeriodSeconds
		case pod.Spec.TerminationGracePeriodSeconds != nil:
			period = *pod.Spec.TerminationGracePeriodSeconds
		}
		// Nothing runs an unscheduled or finished pod: remove it at once.
		if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			period = 0
		}
		if period < 0 {
			period = 1
		}
		options.GracePeriodSeconds = &period
		return true
	},
}

// qosClass follows the upstream rules: Guaranteed when every container has
// equal cpu and memory requests and limits, BestEffort when none has any.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	containers := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, c := range containers {
		for n, q := range c.Resources.Requests {
			if n == corev1.ResourceCPU || n == corev1.ResourceMemory {
				addTo(requests, n, q)
			}
		}
		complete := 0
		for n, q := range c.Resources.Limits {
			if n == corev1.ResourceCPU || n == corev1.ResourceMemory {
				addTo(limits, n, q)
				complete++
			}
		}
		if complete < 2 {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for n, r := range requests {
			if l, ok := limits[n]; !ok || l.Cmp(r) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(limits) == 2 {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func addTo(list corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
	cur := list[name]
	cur.Add(q)
	list[name] = cur
}

// BindingREST serves pods/binding: the scheduler's way to place a pod.
type BindingREST struct {
	store *registry.Store
}

func (r *BindingREST) New() runtime.Object     { return &corev1.Binding{} }
func (r *BindingREST) Destroy()                {}
func (r *BindingREST) NamespaceScoped() bool   { return true }
func (r *BindingREST) GetSingularName() string { return "binding" }

func (r *BindingREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	binding, ok := obj.(*corev1.Binding)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a Binding object: %T", obj))
	}
	if name != binding.Name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Binding object")
	}
	if binding.Target.Kind != "" && binding.Target.Kind != "Node" {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), name,
			field.ErrorList{field.NotSupported(field.NewPath("target", "kind"), binding.Target.Kind, []string{"Node", "<empty>"})})
	}
	if binding.Target.Name == "" {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), name,
			field.ErrorList{field.Required(field.NewPath("target", "name"), "")})
	}
	if createValidation != nil {
		if err := createValidation(ctx, binding.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	key, err := r.store.KeyFunc(ctx, name)
	if err != nil {
		return nil, err
	}
	node := binding.Target.Name
	var preconditions *storage.Preconditions
	if binding.UID != "" {
		preconditions = &storage.Preconditions{UID: &binding.UID}
	}
	err = r.store.Storage.GuaranteedUpdate(ctx, key, &corev1.Pod{}, false, preconditions,
		storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
			pod := obj.(*corev1.Pod)
			if pod.DeletionTimestamp != nil {
				return nil, apierrors.NewConflict(corev1.Resource("pods/binding"), name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", name))
			}
			if pod.Spec.NodeName != "" {
				return nil, apierrors.NewConflict(corev1.Resource("pods/binding"), name, fmt.Errorf("pod %s is already assigned to node %q", name, pod.Spec.NodeName))
			}
			pod.Spec.NodeName = node
			for k, v := range binding.Annotations {
				if pod.Annotations == nil {
					pod.Annotations = map[string]string{}
				}
				pod.Annotations[k] = v
			}
			setPodCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
			return pod, nil
		}), dryrun.IsDryRun(options.DryRun), nil)
	if err != nil {
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess, Code: 201}, nil
}

func setPodCondition(status *corev1.PodStatus, c corev1.PodCondition) {
	for i := range status.Conditions {
		if status.Conditions[i].Type == c.Type {
			if status.Conditions[i].Status == c.Status {
				c.LastTransitionTime = status.Conditions[i].LastTransitionTime
			}
			status.Conditions[i] = c
			return
		}
	}
	status.Conditions = append(status.Conditions, c)
}

// EvictionREST serves pods/eviction: a delete that respects
// PodDisruptionBudgets (429 when a budget allows no disruption).
type EvictionREST struct {
	pods   *registry.Store
	status *StatusREST
	pdbs   *lazyStore
}

func (r *EvictionREST) New() runtime.Object     { return &policyv1.Eviction{} }
func (r *EvictionREST) Destroy()                {}
func (r *EvictionREST) NamespaceScoped() bool   { return true }
func (r *EvictionREST) GetSingularName() string { return "eviction" }

// GroupVersionKind tells the installer that pods/eviction speaks policy/v1.
func (r *EvictionREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return policyv1.SchemeGroupVersion.WithKind("Eviction")
}

func (r *EvictionREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	eviction, ok := obj.(*policyv1.Eviction)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not an Eviction object: %T", obj))
	}
	if name != eviction.Name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	if createValidation != nil {
		if err := createValidation(ctx, eviction.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	podObj, err := r.pods.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	pod := podObj.(*corev1.Pod)
	deleteOptions := eviction.DeleteOptions
	if deleteOptions == nil {
		deleteOptions = &metav1.DeleteOptions{}
	}
	deleteOptions.DryRun = options.DryRun
	// Pods that are already done or not yet running may always go.
	if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && pod.Status.Phase != corev1.PodPending && pod.DeletionTimestamp == nil {
		if err := r.takeDisruption(ctx, pod, dryrun.IsDryRun(options.DryRun)); err != nil {
			return nil, err
		}
	}
	if !dryrun.IsDryRun(options.DryRun) {
		if err := r.markEvicted(ctx, pod); err != nil {
			return nil, err
		}
	}
	if _, _, err := r.pods.Delete(ctx, name, rest.ValidateAllObjectFunc, deleteOptions); err != nil {
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess, Code: 201}, nil
}

// markEvicted adds the DisruptionTarget condition (EvictionByEvictionAPI)
// to a pod not yet done, as upstream, so that a Job's podFailurePolicy can
// tell a drain from a failure. The condition is added to the latest pod
// in storage, so it never conflicts.
func (r *EvictionREST) markEvicted(ctx context.Context, pod *corev1.Pod) error {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	latest := func(_ context.Context, _, old runtime.Object) (runtime.Object, error) {
		return old.(*corev1.Pod).DeepCopy(), nil
	}
	mark := func(_ context.Context, obj, _ runtime.Object) (runtime.Object, error) {
		p := obj.(*corev1.Pod)
		if p.UID != pod.UID {
			return nil, apierrors.NewConflict(corev1.Resource("pods"), p.Name, fmt.Errorf("the pod was replaced"))
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
				return p, nil
			}
		}
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget,
			Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting",
			LastTransitionTime: metav1.Now()})
		return p, nil
	}
	_, _, err := r.status.Update(ctx, pod.Name, rest.DefaultUpdatedObjectInfo(nil, latest, mark),
		rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	return err
}

// takeDisruption checks the budgets that cover the pod and uses one
// allowed disruption of each.
func (r *EvictionREST) takeDisruption(ctx context.Context, pod *corev1.Pod, dryRun bool) error {
	pdbs := r.pdbs.store()
	listObj, err := pdbs.List(ctx, nil)
	if err != nil {
		return err
	}
	for _, pdb := range listObj.(*policyv1.PodDisruptionBudgetList).Items {
		selector, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || selector.Empty() || !selector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		if pdb.Status.ObservedGeneration < pdb.Generation || pdb.Status.DisruptionsAllowed <= 0 {
			return tooManyRequests(fmt.Sprintf("Cannot evict pod as it would violate the pod's disruption budget %q.", pdb.Name))
		}
		if dryRun {
			continue
		}
		key, err := pdbs.KeyFunc(ctx, pdb.Name)
		if err != nil {
			return err
		}
		err = pdbs.Storage.GuaranteedUpdate(ctx, key, &policyv1.PodDisruptionBudget{}, false, nil,
			storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
				p := obj.(*policyv1.PodDisruptionBudget)
				if p.Status.DisruptionsAllowed <= 0 {
					return nil, tooManyRequests(fmt.Sprintf("Cannot evict pod as it would violate the pod's disruption budget %q.", p.Name))
				}
				// The disruption controller keeps the pod out of its healthy
				// count until the deletion shows (or two minutes pass), so it
				// cannot hand the disruption out again meanwhile.
				if len(p.Status.DisruptedPods) >= maxDisruptedPods {
					return nil, apierrors.NewForbidden(policyv1.Resource("poddisruptionbudget"), p.Name,
						fmt.Errorf("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
				}
				if p.Status.DisruptedPods == nil {
					p.Status.DisruptedPods = map[string]metav1.Time{}
				}
				p.Status.DisruptedPods[pod.Name] = metav1.Now()
				p.Status.DisruptionsAllowed--
				return p, nil
			}), false, nil)
		if err != nil {
			return err
		}
	}
	return nil
}

// maxDisruptedPods bounds a budget's record of unconfirmed evictions, as
// upstream does.
const maxDisruptedPods = 2000

func tooManyRequests(msg string) error {
	// No Retry-After: clients must not spin on a budget that only a controller can refresh.
	err := apierrors.NewTooManyRequests(msg, 0)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: "DisruptionBudget", Message: msg})
	return err
}
