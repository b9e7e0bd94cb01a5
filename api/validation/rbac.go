package validation

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validatePolicyRules checks role rules. Non-resource URLs only make sense
// cluster-wide, so namespaced Roles may not use them.
func validatePolicyRules(rules []rbacv1.PolicyRule, p *field.Path, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		rp := p.Index(i)
		if len(r.Verbs) == 0 {
			errs = append(errs, field.Required(rp.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(r.NonResourceURLs) > 0 {
			if namespaced {
				errs = append(errs, field.Invalid(rp.Child("nonResourceURLs"), r.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(r.APIGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
				errs = append(errs, field.Invalid(rp.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(r.APIGroups) == 0 {
			errs = append(errs, field.Required(rp.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(r.Resources) == 0 {
			errs = append(errs, field.Required(rp.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return errs
}

func validateClusterRole(cr *rbacv1.ClusterRole) field.ErrorList {
	errs := validatePolicyRules(cr.Rules, field.NewPath("rules"), false)
	if ar := cr.AggregationRule; ar != nil {
		sp := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(ar.ClusterRoleSelectors) == 0 {
			errs = append(errs, field.Required(sp, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range ar.ClusterRoleSelectors {
			errs = append(errs, validateSelector(&ar.ClusterRoleSelectors[i], sp.Index(i), "")...)
		}
	}
	return errs
}

var subjectKinds = []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}

// validateBinding checks a (Cluster)RoleBinding's roleRef and subjects. A
// ClusterRoleBinding can only grant a ClusterRole, and its service account
// subjects need a namespace since the binding has none.
func validateBinding(ref rbacv1.RoleRef, subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	rp := field.NewPath("roleRef")
	errs = append(errs, validateEnum(ref.APIGroup, rp.Child("apiGroup"), rbacv1.GroupName)...)
	if namespaced {
		errs = append(errs, validateEnum(ref.Kind, rp.Child("kind"), "Role", "ClusterRole")...)
	} else {
		errs = append(errs, validateEnum(ref.Kind, rp.Child("kind"), "ClusterRole")...)
	}
	errs = append(errs, requiredName(ref.Name, rp.Child("name"), func(v string, p *field.Path) field.ErrorList {
		return invalidEach(p, v, path.IsValidPathSegmentName(v))
	})...)
	for i, s := range subjects {
		sp := field.NewPath("subjects").Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
		}
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			if s.Name != "" {
				errs = append(errs, validateDNS1123Subdomain(s.Name, sp.Child("name"))...)
			}
			errs = append(errs, validateEnum(s.APIGroup, sp.Child("apiGroup"), "")...)
			if !namespaced && s.Namespace == "" {
				errs = append(errs, field.Required(sp.Child("namespace"), ""))
			}
			if s.Namespace != "" {
				errs = append(errs, validateDNS1123Label(s.Namespace, sp.Child("namespace"))...)
			}
		case rbacv1.UserKind, rbacv1.GroupKind:
			errs = append(errs, validateEnum(s.APIGroup, sp.Child("apiGroup"), rbacv1.GroupName)...)
		default:
			errs = append(errs, field.NotSupported(sp.Child("kind"), s.Kind, subjectKinds))
		}
	}
	return errs
}

// A binding's roleRef is immutable: changing what it grants must be a new
// binding, so that a grant is visible as such to authorizers and audits.
func validateRoleRefUpdate(ref, old rbacv1.RoleRef) field.ErrorList {
	if ref != old {
		return field.ErrorList{field.Invalid(field.NewPath("roleRef"), ref, "cannot change roleRef")}
	}
	return nil
}

func validateRoleBindingUpdate(rb, old *rbacv1.RoleBinding) field.ErrorList {
	return validateRoleRefUpdate(rb.RoleRef, old.RoleRef)
}

func validateClusterRoleBindingUpdate(rb, old *rbacv1.ClusterRoleBinding) field.ErrorList {
	return validateRoleRefUpdate(rb.RoleRef, old.RoleRef)
}
