// Package job runs batch/v1 Jobs: it creates pods from the template until
// spec.completions of them have succeeded (NonIndexed) or every index in
// [0, completions) has a succeeded pod (Indexed), keeping at most
// spec.parallelism running; retries failures with exponential backoff up
// to spec.backoffLimit; enforces activeDeadlineSeconds and suspend; keeps
// the Job's status and conditions as upstream 1.31+ does (the interim
// FailureTarget / SuccessCriteriaMet, then Failed / Complete once no pod
// is left running); and deletes finished Jobs after ttlSecondsAfterFinished.
//
// Pods carry the batch.kubernetes.io/job-tracking finalizer, so a pod
// deleted by anyone (the garbage collector, a user, pod GC) is still
// counted: its UID is first written into status.uncountedTerminatedPods,
// then the finalizer is removed, then the UID moves into the succeeded or
// failed counter. A crash between any two steps loses and doubles nothing.
//
// spec.podFailurePolicy judges each failed pod by its exit codes or
// conditions: FailJob fails the Job at once (reason PodFailurePolicy),
// Ignore replaces the pod without counting it or backing off, Count is
// the default; FailIndex counts the pod and fails its index at once.
//
// Indexed Jobs only: spec.backoffLimitPerIndex gives each index its own
// failure budget and backoff (perindex.go); the failures of an index ride
// on its pods' batch.kubernetes.io/job-index-failure-count annotation,
// and an index out of budget is listed in status.failedIndexes and not
// run again. The Job fails (reason MaxFailedIndexesExceeded) once more
// than spec.maxFailedIndexes indexes failed, or (reason FailedIndexes)
// once every index has succeeded or failed and some failed.
// spec.successPolicy (successpolicy.go) declares the Job succeeded
// (SuccessCriteriaMet, reason SuccessPolicy) when chosen indexes or
// enough of them succeeded; the remaining pods are stopped, then Complete.
//
// Not implemented: adoption of orphan pods matching a Job's selector, and
// spec.managedBy other than the built-in controller (such Jobs are left
// alone).
package job
