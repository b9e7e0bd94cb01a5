// Package env resolves what kubelet computes for a container before it
// starts: its environment (literal values with $(VAR) expansion, field,
// resource, ConfigMap and Secret references, envFrom, service link
// variables) and the registry credentials of the pod's imagePullSecrets.
//
// Objects are read through Sources; NewClientSources backs it with a
// client-go clientset and a short TTL cache, so the many containers of a
// node share one GET per object and TTL. The field and resource look-ups
// (FieldValue, ResourceValue) are shared with agent/volume's downwardAPI
// volumes.
package env
