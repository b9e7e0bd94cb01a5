package image

import (
	"fmt"
	"regexp"
	"strings"
)

// refPattern accepts the common reference grammar: lower-case path
// components separated by "/", an optional registry host (with port) as
// first component, and a tag or digest.
var (
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	hostRE      = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?$`)
	tagRE       = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestRE    = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// NormalizeRef returns the fully qualified form of an image reference, the
// form the CRI plugin stores and looks images up by: "busybox" becomes
// "docker.io/library/busybox:latest", "corral.invalid/pause:1" stays.
func NormalizeRef(ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("empty image reference")
	}
	rest, digest, hasDigest := strings.Cut(ref, "@")
	if hasDigest && !digestRE.MatchString(digest) {
		return "", fmt.Errorf("image reference %q: bad digest %q", ref, digest)
	}
	tag := ""
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		rest, tag = rest[:i], rest[i+1:]
		if !tagRE.MatchString(tag) {
			return "", fmt.Errorf("image reference %q: bad tag %q", ref, tag)
		}
	}
	parts := strings.Split(rest, "/")
	host := "docker.io"
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		if !hostRE.MatchString(parts[0]) {
			return "", fmt.Errorf("image reference %q: bad registry host %q", ref, parts[0])
		}
		host, parts = parts[0], parts[1:]
	} else if len(parts) == 1 {
		parts = append([]string{"library"}, parts...)
	}
	for _, c := range parts {
		if !componentRE.MatchString(c) {
			return "", fmt.Errorf("image reference %q: bad path component %q", ref, c)
		}
	}
	out := host + "/" + strings.Join(parts, "/")
	if tag == "" && !hasDigest {
		tag = "latest"
	}
	if tag != "" {
		out += ":" + tag
	}
	if hasDigest {
		out += "@" + digest
	}
	return out, nil
}
