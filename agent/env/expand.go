package env

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Expand replaces each $(NAME) in s by lookup(NAME) as kubelet does for
// env values, command and args: "$$" is a literal "$", a reference whose
// name lookup does not know stays as written, and a "$" that starts no
// reference (or an unclosed "$(") is kept.
func Expand(s string, lookup func(name string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// Unclosed: keep "$(" and go on scanning after it.
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			// "$x": the operator and the next byte stay as they are.
			b.WriteByte('$')
			b.WriteByte(s[i+1])
			i++
		}
	}
	return b.String()
}

// MapLookup looks names up in the given maps in order.
func MapLookup(maps ...map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v, true
			}
		}
		return "", false
	}
}

// ExpandArgs expands command or args against a resolved environment, as
// kubelet does before handing them to the runtime.
func ExpandArgs(args []string, env []corev1.EnvVar) []string {
	if len(args) == 0 {
		return args
	}
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = Expand(a, MapLookup(m))
	}
	return out
}
