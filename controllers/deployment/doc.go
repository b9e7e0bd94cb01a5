// Package deployment rolls Deployments out through ReplicaSets.
//
// It follows the sample-controller skeleton (informers for Deployments,
// ReplicaSets and Pods → rate-limited work queue of Deployment keys →
// syncDeployment) and upstream kube-controller-manager's behaviour, so that
// kubectl rollout status|history|undo|pause|resume|restart work unchanged:
//
//   - each pod template gets one ReplicaSet, <deployment>-<hash>, where the
//     hash is upstream's (FNV-32a over the dumped template, collisionCount
//     appended, rendered with rand.SafeEncodeString) and is added to the
//     ReplicaSet's selector and template as the pod-template-hash label;
//   - RollingUpdate never exceeds replicas+maxSurge pods nor drops below
//     replicas-maxUnavailable available ones (surge rounds up, unavailable
//     down); Recreate scales the old ReplicaSets to zero and waits for
//     their pods to go before creating the new one;
//   - revisions live in deployment.kubernetes.io/revision on ReplicaSets
//     and the Deployment; an old template that becomes current again (a
//     rollback) reuses its ReplicaSet, which takes the next revision and
//     remembers the old one in deployment.kubernetes.io/revision-history;
//   - desired-replicas and max-replicas annotations drive proportional
//     scaling when a Deployment is resized in the middle of a rollout or
//     while paused; a paused Deployment only scales;
//   - old ReplicaSets scaled to zero beyond revisionHistoryLimit are deleted;
//   - the Progressing condition tracks progressDeadlineSeconds (reasons
//     NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated,
//     NewReplicaSetAvailable, ProgressDeadlineExceeded, DeploymentPaused,
//     DeploymentResumed) and Available tracks minimum availability.
//
// Beyond upstream: with the annotation corral.dev/auto-rollback: "true", a
// rollout that exceeds its progress deadline is rolled back to the newest
// revision that was once fully available, and a Warning event with reason
// AutoRollback names both revisions. The controller marks a ReplicaSet with
// corral.dev/fully-available when its rollout completes; that mark is how
// "last good revision" is remembered across restarts.
package deployment
