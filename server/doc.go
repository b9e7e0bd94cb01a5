// Package server wires a corral control-plane process together in start-up
// order: data directory, certificates and tokens, the datastore (embedded
// etcd or external endpoints), the API server, and the admin kubeconfig.
package server
