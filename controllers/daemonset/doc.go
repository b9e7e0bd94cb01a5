// Package daemonset runs one pod of each DaemonSet on every node that
// should run it, as kube-controller-manager's DaemonSet controller does.
//
// It follows the sample-controller skeleton (informers for DaemonSets,
// pods, nodes and ControllerRevisions feed a work queue of DaemonSet keys;
// controllers/worker runs the loop) and upstream's rules:
//   - a node should run the pod when the template's nodeName (if any),
//     nodeSelector and required node affinity match it and its NoSchedule
//     and NoExecute taints are tolerated; pods stay on nodes whose new
//     taints are only NoSchedule. The template gets upstream's default
//     tolerations (not-ready and unreachable NoExecute; disk, memory and
//     pid pressure, unschedulable NoSchedule; network-unavailable for host
//     network pods);
//   - pods are created unbound with a required node affinity matchFields
//     metadata.name=<node> that replaces the template's required node
//     affinity, so the scheduler places them; failed pods are deleted and
//     replaced after a per-node backoff; extra pods on a node are deleted
//     (oldest kept);
//   - each template is recorded as a ControllerRevision (controllers/history)
//     whose hash labels the pods (controller-revision-hash, and
//     pod-template-generation when the deprecated.daemonset.template.generation
//     annotation is present); old revisions beyond revisionHistoryLimit that
//     no pod uses are deleted;
//   - RollingUpdate replaces old pods at most maxUnavailable at a time, or,
//     with maxSurge, starts the new pod before deleting the old one once
//     the new one is available; OnDelete only creates new pods where the
//     old ones were deleted;
//   - status: desired/current/updated/misscheduled counts, numberReady,
//     numberAvailable (minReadySeconds), numberUnavailable,
//     observedGeneration and collisionCount.
package daemonset
