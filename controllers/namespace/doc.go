// Package namespace is corral's namespace controller. When a Namespace is
// being deleted (deletionTimestamp set, phase Terminating, "kubernetes" in
// spec.finalizers), it deletes every namespaced object in it through the
// metadata client, waits until nothing is left, removes the "kubernetes"
// finalizer through namespaces/finalize and deletes the namespace again so
// that the API server removes it.
//
// Resources are found with discovery on every sync, so resources added
// later (CRDs) are emptied too. Progress is reported in the upstream
// namespace conditions (NamespaceDeletionDiscoveryFailure,
// NamespaceDeletionContentFailure, NamespaceContentRemaining,
// NamespaceFinalizersRemaining).
package namespace
