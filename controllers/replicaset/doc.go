// Package replicaset keeps the number of running pods of each ReplicaSet
// equal to its spec.replicas.
//
// It follows the sample-controller skeleton: shared informers for
// ReplicaSets and Pods feed a rate-limited work queue of ReplicaSet keys,
// and syncReplicaSet compares the cached pods with the spec, creates or
// deletes pods through the API and writes the status back.
//
// Behaviour mirrors upstream kube-controller-manager:
//   - pods are created from spec.template with generateName "<rs>-" and a
//     controller ownerReference, in slow-start batches (1, 2, 4, ...) so
//     that a failing create (quota, admission) costs one request, not
//     hundreds;
//   - surplus pods are deleted in upstream's ranking order: unscheduled,
//     pending, not ready, lower deletion cost, doubled-up on a node, ready
//     for less time, more restarts, newer;
//   - orphans matching the selector are adopted and owned pods that no
//     longer match are released;
//   - expectations remember creates and deletes not yet seen by the pod
//     informer, so a sync that runs before the cache catches up does not
//     act twice;
//   - status carries replicas, fullyLabeledReplicas, readyReplicas,
//     availableReplicas (minReadySeconds), terminatingReplicas,
//     observedGeneration and a ReplicaFailure condition on errors.
package replicaset
