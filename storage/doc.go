// Package storage owns corral's datastore: it starts the embedded etcd (or
// connects to external etcd endpoints) and keeps the cluster-wide
// allocations (service cluster IPs and node ports) as etcd keys, created in
// a transaction so that two servers can never hand out the same value.
//
// Objects themselves are stored by k8s.io/apiserver's etcd3 storage, set up
// by package apiserver; nothing outside this package and that one reads etcd.
package storage
