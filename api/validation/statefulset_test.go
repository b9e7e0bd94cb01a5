package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// A container may mount a claim template by name: the controller adds the
// claim as a pod volume, as upstream accepts.
func TestStatefulSetMountOfClaimTemplate(t *testing.T) {
	mountData := func(s *appsv1.StatefulSet) {
		c := &s.Spec.Template.Spec.Containers[0]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
	}
	ok := with(validStatefulSet(), mountData)
	if errs := ValidateCreate(ok); len(errs) > 0 {
		t.Errorf("mount of claim template rejected: %v", errs)
	}
	if errs := ValidateUpdate(ok, ok.DeepCopy()); len(errs) > 0 {
		t.Errorf("update with mount of claim template rejected: %v", errs)
	}
	if len(ok.Spec.Template.Spec.Volumes) != 1 {
		t.Errorf("validation changed the template's volumes: %+v", ok.Spec.Template.Spec.Volumes)
	}

	// A template volume of the claim's name (which the claim replaces)
	// is no duplicate.
	shadowed := with(validStatefulSet(), func(s *appsv1.StatefulSet) {
		mountData(s)
		s.Spec.Template.Spec.Volumes = append(s.Spec.Template.Spec.Volumes,
			corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	})
	if errs := ValidateCreate(shadowed); len(errs) > 0 {
		t.Errorf("template volume named like the claim rejected: %v", errs)
	}

	// Mounts of names that are neither volumes nor claim templates still fail.
	missing := with(validStatefulSet(), func(s *appsv1.StatefulSet) {
		c := &s.Spec.Template.Spec.Containers[0]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "logs", MountPath: "/logs"})
	})
	expectError(t, ValidateCreate(missing), "spec.template.spec.containers[0].volumeMounts[1].name", field.ErrorTypeNotFound)

	// So do mounts in a StatefulSet without claim templates.
	none := with(validStatefulSet(), func(s *appsv1.StatefulSet) {
		mountData(s)
		s.Spec.VolumeClaimTemplates = nil
	})
	expectError(t, ValidateCreate(none), "spec.template.spec.containers[0].volumeMounts[1].name", field.ErrorTypeNotFound)
}
