// Package localpath is corral's built-in dynamic provisioner for the
// StorageClass "local-path" (provisioner corral.dev/local-path), in the
// manner of k3s's local-path-provisioner: a PersistentVolumeClaim of such
// a class gets a hostPath PersistentVolume in a directory of the node its
// first consumer runs on.
//
// The classes are WaitForFirstConsumer: a claim is provisioned once a pod
// using it has been scheduled (spec.nodeName), or once the claim carries
// volume.kubernetes.io/selected-node. The PV is named pvc-<claim uid>, its
// path is <root>/<pv>_<namespace>_<claim> (hostPath DirectoryOrCreate: the
// node agent creates the directory on first mount), and it is pinned to
// the node by required node affinity on kubernetes.io/hostname.
//
// corral has no PV binder controller, so this controller also binds its
// own volumes: PV claimRef and status Bound, claim spec.volumeName, the
// bind-completed annotations and claim status Bound. Every step is
// idempotent and re-checked on each sync, so a crash between steps is
// finished by the next one.
//
// Reclaim: when the claim is gone (or replaced by one with another UID),
// a PV with policy Delete is deleted and one with Retain is marked
// Released. The directory on the node is not removed: that needs code on
// the node (a helper pod or the agent), which corral does not have yet.
//
// It follows the sample-controller skeleton: informers for claims, PVs,
// classes and pods feed a work queue of claim keys run by
// controllers/worker.
package localpath
