package printers

import (
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Roles and cluster roles have no upstream printer: they are served with the
// default table (see the registry).

var roleBindingPrinter = printer{
	columns: bindingColumns("roleBinding", rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]),
	row: rowOf(func(b *rbacv1.RoleBinding, age string) []interface{} {
		return bindingRow(b.Name, b.RoleRef, b.Subjects, age)
	}),
}

var clusterRoleBindingPrinter = printer{
	columns: bindingColumns("clusterRoleBinding", rbacv1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"]),
	row: rowOf(func(b *rbacv1.ClusterRoleBinding, age string) []interface{} {
		return bindingRow(b.Name, b.RoleRef, b.Subjects, age)
	}),
}

func bindingColumns(kind, roleRefDoc string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		column("Role", "string", roleRefDoc),
		ageColumn,
		wide("Users", "string", "Users in the "+kind),
		wide("Groups", "string", "Groups in the "+kind),
		wide("ServiceAccounts", "string", "ServiceAccounts in the "+kind),
	}
}

func bindingRow(name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, age string) []interface{} {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		}
	}
	return []interface{}{name, fmt.Sprintf("%s/%s", ref.Kind, ref.Name), age,
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
}
