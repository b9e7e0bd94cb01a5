// Package defaults holds corral's defaulting functions: the values the API
// server fills into an object that a client left unset, before validation
// and storage.
//
// corral serves the external k8s.io/api types directly, so these functions
// work on the v1 structs. They reproduce the defaults upstream Kubernetes
// applies (pkg/apis/*/v1/defaults.go plus a few the upstream REST layer sets,
// such as a Service's ipFamilyPolicy), because kubectl, Helm and controllers
// compare what they sent with what they read back and expect those values.
//
// Work that upstream leaves to controllers or to create-time strategies
// (selectors and labels generated for Jobs, allocated cluster IPs, node
// ports) is deliberately not done here.
package defaults
