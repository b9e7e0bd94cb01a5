// Package validation checks objects of the served k8s.io/api types before
// they are stored: on create, on update of the main resource (including
// the fields upstream Kubernetes makes immutable) and on status updates.
//
// The checks follow upstream Kubernetes (pkg/apis/*/validation) closely
// enough that clients see the same field paths and the same kinds of errors
// (Required, Invalid, NotSupported, Duplicate, Forbidden, "field is
// immutable"), but they are corral's own and cover what users commonly hit
// rather than every upstream rule. Objects are expected to have been
// defaulted (package corral/api/defaults) before they are validated, as the
// API server does, so fields that always have a default are required here.
package validation
