package validation

import (
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// immutable reports "field is immutable" when newVal differs from oldVal.
func immutable(newVal, oldVal any, p *field.Path) field.ErrorList {
	return apivalidation.ValidateImmutableField(newVal, oldVal, p)
}

// invalidEach turns the messages of a util/validation check into errors.
func invalidEach(p *field.Path, value any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(p, value, msg))
	}
	return errs
}

func validateDNS1123Label(v string, p *field.Path) field.ErrorList {
	return invalidEach(p, v, validation.IsDNS1123Label(v))
}

func validateDNS1123Subdomain(v string, p *field.Path) field.ErrorList {
	return invalidEach(p, v, validation.IsDNS1123Subdomain(v))
}

func validateQualifiedName(v string, p *field.Path) field.ErrorList {
	return invalidEach(p, v, validation.IsQualifiedName(v))
}

// requiredName checks a reference to another object by name.
func requiredName(v string, p *field.Path, check func(string, *field.Path) field.ErrorList) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return check(v, p)
}

func validateNonnegative(v int64, p *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(v, p)
}

func validateNonnegativePtr[T ~int32 | ~int64](v *T, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return validateNonnegative(int64(*v), p)
}

func validatePositive(v int64, p *field.Path) field.ErrorList {
	if v <= 0 {
		return field.ErrorList{field.Invalid(p, v, "must be greater than zero")}
	}
	return nil
}

func validatePortNum(port int32, p *field.Path) field.ErrorList {
	return invalidEach(p, port, validation.IsValidPortNum(int(port)))
}

// validatePortNumOrName checks a port given by number or IANA name.
func validatePortNumOrName(port intstr.IntOrString, p *field.Path) field.ErrorList {
	switch port.Type {
	case intstr.Int:
		return invalidEach(p, port.IntValue(), validation.IsValidPortNum(port.IntValue()))
	case intstr.String:
		return invalidEach(p, port.StrVal, validation.IsValidPortName(port.StrVal))
	}
	return field.ErrorList{field.InternalError(p, fmt.Errorf("unknown type: %v", port.Type))}
}

var supportedProtocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

func validateProtocol(proto corev1.Protocol, p *field.Path) field.ErrorList {
	if proto == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return validateEnum(proto, p, supportedProtocols...)
}

// validateEnum reports NotSupported unless v is one of allowed.
func validateEnum[T ~string](v T, p *field.Path, allowed ...T) field.ErrorList {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(p, v, allowed)}
}

// validateRequiredEnum is validateEnum that reports Required when empty.
func validateRequiredEnum[T ~string](v T, p *field.Path, allowed ...T) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return validateEnum(v, p, allowed...)
}

func validateLabels(l map[string]string, p *field.Path) field.ErrorList {
	return metav1validation.ValidateLabels(l, p)
}

// validateSelector checks a label selector. When owner is set (e.g.
// "deployment") the selector is required and may not be empty, since an
// empty selector would match every pod in the namespace.
func validateSelector(sel *metav1.LabelSelector, p *field.Path, owner string) field.ErrorList {
	if sel == nil {
		if owner != "" {
			return field.ErrorList{field.Required(p, "")}
		}
		return nil
	}
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, p)
	if owner != "" && len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(p, sel, "empty selector is invalid for "+owner))
	}
	return errs
}

// validateSelectorMatchesTemplate checks that a controller's selector
// selects the pods its template creates, or it would create them forever.
func validateSelectorMatchesTemplate(sel *metav1.LabelSelector, tmplLabels map[string]string, p *field.Path) field.ErrorList {
	if sel == nil || len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		return nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil // reported by validateSelector
	}
	if !s.Matches(labels.Set(tmplLabels)) {
		return field.ErrorList{field.Invalid(p.Child("metadata", "labels"), tmplLabels, "`selector` does not match template `labels`")}
	}
	return nil
}

// validateIntOrPercent checks maxSurge/maxUnavailable style values: a
// non-negative integer or a percentage, at most 100% when isMax.
func validateIntOrPercent(v *intstr.IntOrString, p *field.Path, atMost100 bool) field.ErrorList {
	if v == nil {
		return nil
	}
	switch v.Type {
	case intstr.Int:
		return validateNonnegative(int64(v.IntValue()), p)
	case intstr.String:
		if msgs := validation.IsValidPercent(v.StrVal); len(msgs) > 0 {
			return invalidEach(p, v.StrVal, msgs)
		}
		pct, _ := intstr.GetScaledValueFromIntOrPercent(v, 100, false)
		if pct < 0 {
			return field.ErrorList{field.Invalid(p, v.StrVal, apivalidation.IsNegativeErrorMsg)}
		}
		if atMost100 && pct > 100 {
			return field.ErrorList{field.Invalid(p, v.StrVal, "must not be greater than 100%")}
		}
	}
	return nil
}

// isZeroIntOrPercent reports whether v means "none", as 0 or "0%".
func isZeroIntOrPercent(v *intstr.IntOrString) bool {
	if v == nil {
		return true
	}
	if v.Type == intstr.Int {
		return v.IntValue() == 0
	}
	return strings.TrimSuffix(v.StrVal, "%") == "0"
}

// validateQuantityNonnegative reports a negative quantity.
func validateQuantityNonnegative(q resource.Quantity, p *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(p, q.String(), apivalidation.IsNegativeErrorMsg)}
	}
	return nil
}

// validateResourceList checks resource names and that no amount is negative.
func validateResourceList(l corev1.ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, q := range l {
		kp := p.Key(string(name))
		errs = append(errs, validateQualifiedName(string(name), kp)...)
		errs = append(errs, validateQuantityNonnegative(q, kp)...)
	}
	return errs
}

func validateIP(v string, p *field.Path) field.ErrorList {
	return validation.IsValidIP(p, v)
}

func validateCIDR(v string, p *field.Path) field.ErrorList {
	return validation.IsValidCIDR(p, v)
}

// duplicates tracks names already seen in a list.
type duplicates struct{ seen sets.Set[string] }

// check returns a Duplicate error when v was seen before.
func (d *duplicates) check(v string, p *field.Path) field.ErrorList {
	if d.seen == nil {
		d.seen = sets.New[string]()
	}
	if d.seen.Has(v) {
		return field.ErrorList{field.Duplicate(p, v)}
	}
	d.seen.Insert(v)
	return nil
}

func validateAnnotationsOnly(a map[string]string, p *field.Path) field.ErrorList {
	return apivalidation.ValidateAnnotations(a, p)
}

// changedFields names (by JSON name) the top-level fields of two structs
// of the same type that differ, to tell users what an update touched.
func changedFields(a, b any) []string {
	va, vb := reflect.Indirect(reflect.ValueOf(a)), reflect.Indirect(reflect.ValueOf(b))
	var out []string
	for i := 0; i < va.NumField(); i++ {
		if equality.Semantic.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			continue
		}
		name, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = va.Type().Field(i).Name
		}
		out = append(out, name)
	}
	return out
}
