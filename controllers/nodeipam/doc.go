// Package nodeipam gives every Node a pod CIDR (spec.podCIDR and
// spec.podCIDRs) carved out of the cluster CIDR (--cluster-cidr, corral's
// default 10.42.0.0/16) in blocks of a fixed mask size (default /24, so
// 256 nodes of 254 pods), as upstream's range allocator does.
//
// The set of used blocks lives in memory and is rebuilt from the node
// cache before the first allocation, so a restart never hands out a block
// twice; a deleted node's block is released. podCIDR is set-once (the API
// server rejects a change), so a node that already has one keeps it. When
// the range is exhausted the node gets a CIDRNotAvailable event and is
// retried with backoff (a deleted node frees a block).
package nodeipam
