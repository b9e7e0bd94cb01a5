// Package disruption keeps the status of each PodDisruptionBudget, which
// the pods/eviction subresource consults before it lets a pod go.
//
// It follows the sample-controller skeleton (informers for budgets, pods
// and the workload controllers feed a rate-limited queue of budget keys;
// the loop is controllers/worker) and computes status as upstream's
// kube-controller-manager does:
//   - the budget's pods are those of its namespace matching its selector
//     (an empty selector matches all, a missing one none);
//   - expectedPods is the summed scale of the pods' controllers
//     (Deployments through their ReplicaSets, ReplicaSets, StatefulSets),
//     except for an integer minAvailable, where it is the number of pods;
//     pods without a controller are reported with an UnmanagedPods event;
//   - currentHealthy counts Ready pods that are neither being deleted nor
//     recorded in disruptedPods by a recent eviction;
//   - desiredHealthy is minAvailable, or expectedPods minus
//     maxUnavailable, with percentages rounded up;
//   - disruptionsAllowed is currentHealthy - desiredHealthy (never below
//     0, and 0 while expectedPods is 0);
//   - disruptedPods entries are dropped once their pod is being deleted
//     or after two minutes (the budget is looked at again then);
//   - the DisruptionAllowed condition says SufficientPods or
//     InsufficientPods, or SyncFailed (with disruptionsAllowed 0) when the
//     status cannot be computed.
package disruption
