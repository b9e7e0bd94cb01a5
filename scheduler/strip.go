package scheduler

import (
	corev1 "k8s.io/api/core/v1"
)

// StripPod is a transform for the scheduler's pod informer: it drops
// what no filter, scorer or queue decision reads (container commands,
// environment, probes and mounts, volume sources other than claims, pod
// annotations, container statuses), so the scheduler's copy of every
// pod in the cluster costs a fraction of the whole object. The scheduler
// writes pods only by patches, bindings and deletions, never by sending
// back an object it cached, so nothing it drops can be lost.
func StripPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	pod.Annotations = nil
	pod.ManagedFields = nil
	stripContainers(pod.Spec.InitContainers)
	stripContainers(pod.Spec.Containers)
	pod.Spec.EphemeralContainers = nil
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		source := corev1.VolumeSource{PersistentVolumeClaim: v.PersistentVolumeClaim}
		if v.Ephemeral != nil {
			// The claim's name derives from the pod's and the volume's.
			source.Ephemeral = &corev1.EphemeralVolumeSource{}
		}
		v.VolumeSource = source
	}
	pod.Status = corev1.PodStatus{
		Phase:             pod.Status.Phase,
		Conditions:        pod.Status.Conditions,
		NominatedNodeName: pod.Status.NominatedNodeName,
		StartTime:         pod.Status.StartTime,
	}
	return pod, nil
}

// stripContainers keeps what placement reads: name, requests and limits,
// ports (host ports) and the restart policy (a restartable init container
// is a sidecar, whose requests add up with the app containers').
func stripContainers(cs []corev1.Container) {
	for i := range cs {
		c := &cs[i]
		cs[i] = corev1.Container{Name: c.Name, Resources: c.Resources, Ports: c.Ports, RestartPolicy: c.RestartPolicy}
	}
}
