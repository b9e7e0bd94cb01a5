// Package apiserver serves the Kubernetes API for corral's catalogue of
// resources (package api) on k8s.io/apiserver's generic server: REST storage
// with strategies per resource, subresources (status, scale, binding,
// eviction, finalize), the review APIs, authentication, authorization and
// admission. Everything it stores goes through k8s.io/apiserver's etcd3
// storage with its watch cache.
package apiserver
