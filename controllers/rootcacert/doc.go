// Package rootcacert keeps the ConfigMap kube-root-ca.crt, holding the
// cluster CA under key ca.crt, in every active namespace, as upstream's
// root-ca-cert-publisher does. Pods read it through the kube-api-access
// volume to verify the API server.
package rootcacert
