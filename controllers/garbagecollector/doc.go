// Package garbagecollector is corral's ownerReference garbage collector.
//
// It watches the metadata of every resource that supports list, watch and
// delete (found with discovery and refreshed every 30 s, so resources added
// later are collected too; "events" in both group versions are skipped),
// indexes objects by the UIDs of their owners, and applies the three
// deletion propagation policies as upstream does:
//
//   - background: an object whose owners are all gone (not found, or found
//     with another UID) is deleted with propagationPolicy Background;
//   - foreground: an owner being deleted with the "foregroundDeletion"
//     finalizer has its dependents deleted (Foreground for dependents that
//     have blocking dependents of their own), and loses the finalizer once
//     no dependent with blockOwnerDeletion=true remains;
//   - orphan: an owner being deleted with the "orphan" finalizer has its
//     ownerReferences removed from all dependents, then loses the finalizer.
//
// An owner's absence seen in the cache is confirmed by a live GET before a
// dependent is deleted, so a lagging informer never causes a deletion.
// Dependents with live owners keep them: references to gone or
// foreground-deleting owners are removed instead of deleting the object.
//
// Instead of upstream's RESTMapper, owner kinds are resolved from the same
// discovery data (all served versions), so NewController takes only the
// metadata client, the discovery client and a clock (clock.WithTicker, for
// the work queue's delays and the discovery refresh).
package garbagecollector
