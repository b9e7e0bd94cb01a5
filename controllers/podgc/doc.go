// Package podgc deletes pods that nobody else will, as upstream's pod
// garbage collector does, with a zero grace period (no agent is left to
// honour one):
//
//   - orphans: pods bound to a node that no longer exists. A node missing
//     from the cache is quarantined first (Quarantine, default 20 s: the
//     cache may lag, or the agent may re-register the node), then its
//     absence is confirmed by a live GET; its pods, terminating ones
//     included, are then deleted at once;
//   - terminating pods that were never scheduled, and terminating pods on a
//     node tainted node.kubernetes.io/out-of-service that is not Ready;
//   - terminated pods (Succeeded or Failed) beyond TerminatedPodThreshold
//     (default 12500, as upstream), oldest first.
//
// It runs every Period (default 5 s) over the informer caches.
package podgc
