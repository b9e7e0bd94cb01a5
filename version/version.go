// Package version holds corral's own version, set at build time with
// -ldflags "-X corral/version.Version=...".
package version

// Version of this corral build.
var Version = "dev"
