// Package api is corral's catalogue of served resources: the scheme that knows
// every served kind, and one Resource entry per resource saying its group,
// version, scope, short names, subresources and selectable fields.
//
// corral has no internal API types. Each external k8s.io/api type is also
// registered as its group's internal ("__internal") kind, so the generic API
// server machinery converts between "internal" and external by copying. The
// only real conversions are between versions of one resource served side by
// side (autoscaling/v1 and v2 HorizontalPodAutoscaler).
//
// Defaulting lives in api/defaults, validation in api/validation, table
// columns in api/printers and OpenAPI definitions in api/openapi; the
// apiserver package joins them to these entries.
package api
