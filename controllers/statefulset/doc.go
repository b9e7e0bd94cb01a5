// Package statefulset runs the pods of each StatefulSet with stable
// identities, as kube-controller-manager's StatefulSet controller does.
//
// It follows the sample-controller skeleton (informers for StatefulSets,
// pods, PersistentVolumeClaims and ControllerRevisions feed a work queue
// of StatefulSet keys; controllers/worker runs the loop) and upstream's
// rules:
//   - pods are named <set>-<ordinal> for ordinals spec.ordinals.start
//     onwards, labelled statefulset.kubernetes.io/pod-name,
//     apps.kubernetes.io/pod-index and controller-revision-hash (the
//     revision's name), with hostname <pod> and subdomain serviceName;
//   - each volumeClaimTemplate becomes a PVC <claim>-<set>-<ordinal>,
//     created before the pod and mounted in place of a template volume of
//     the same name. persistentVolumeClaimRetentionPolicy decides their
//     ownerReferences: whenDeleted=Delete makes the set an owner,
//     whenScaled=Delete makes a condemned pod the owner before it is
//     deleted (the garbage collector then removes the claim); Retain, the
//     default, leaves them alone;
//   - OrderedReady creates one pod at a time, each after the previous is
//     Running and Ready (and available for minReadySeconds), and deletes
//     the surplus from the highest ordinal, one at a time; Parallel acts
//     on all at once. Failed or finished pods are deleted and re-created;
//   - each template is a ControllerRevision (controllers/history); a
//     RollingUpdate deletes pods not at the update revision from the
//     highest ordinal down to the partition, at most maxUnavailable
//     (default 1) unavailable at a time, and they come back at the update
//     revision; OnDelete leaves that to the user. Pods below the partition
//     are re-created at the current revision;
//   - status: replicas, readyReplicas, availableReplicas, currentReplicas,
//     updatedReplicas, currentRevision, updateRevision, collisionCount and
//     observedGeneration; the current revision becomes the update revision
//     once every pod runs it and is ready.
package statefulset
