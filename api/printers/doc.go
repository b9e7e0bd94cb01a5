// Package printers turns corral's objects into the metav1.Table responses
// kubectl asks for (Accept: application/json;as=Table;v=v1;g=meta.k8s.io).
//
// kubectl prints whatever columns the server returns, so for kubectl to look
// the same against corral as against kube-apiserver every resource must
// produce upstream's columns: the same names, types, formats and priorities
// (priority 1 marks the extra -o wide columns), and cells computed the way
// upstream's pkg/printers/internalversion computes them. Upstream works on
// internal types; corral has none, so the rows here are written against the
// external k8s.io/api types.
//
// Resources without a printer, here or upstream, get the generic NAME,
// CREATED AT table of rest.NewDefaultTableConvertor.
package printers
