package validation

import (
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	hostPathTypes = []corev1.HostPathType{corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
		corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev}
	storageMediums = []corev1.StorageMedium{corev1.StorageMediumDefault, corev1.StorageMediumMemory, corev1.StorageMediumHugePages}
)

// validateVolumes checks a pod's volumes and returns their names, which
// volume mounts must refer to.
func validateVolumes(vols []corev1.Volume, p *field.Path) (sets.Set[string], field.ErrorList) {
	names := sets.New[string]()
	var errs field.ErrorList
	for i := range vols {
		v := &vols[i]
		ip := p.Index(i)
		if v.Name == "" {
			errs = append(errs, field.Required(ip.Child("name"), ""))
		} else {
			errs = append(errs, validateDNS1123Label(v.Name, ip.Child("name"))...)
			if names.Has(v.Name) {
				errs = append(errs, field.Duplicate(ip.Child("name"), v.Name))
			}
			names.Insert(v.Name)
		}
		errs = append(errs, validateVolumeSource(&v.VolumeSource, ip)...)
	}
	return names, errs
}

// setSources lists the JSON names of the non-nil pointer fields of a
// struct: the sources a volume (or PV) specifies.
func setSources(src any) []string {
	v := reflect.Indirect(reflect.ValueOf(src))
	var set []string
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			set = append(set, name)
		}
	}
	return set
}

// exactlyOneSource reports a volume with no or several sources.
func exactlyOneSource(set []string, p *field.Path) field.ErrorList {
	switch len(set) {
	case 0:
		return field.ErrorList{field.Required(p, "must specify a volume type")}
	case 1:
		return nil
	}
	return field.ErrorList{field.Forbidden(p.Child(set[1]), "may not specify more than 1 volume type")}
}

func validateVolumeSource(vs *corev1.VolumeSource, p *field.Path) field.ErrorList {
	errs := exactlyOneSource(setSources(vs), p)
	if hp := vs.HostPath; hp != nil {
		errs = append(errs, validateHostPath(hp, p.Child("hostPath"))...)
	}
	if ed := vs.EmptyDir; ed != nil {
		errs = append(errs, validateEnum(ed.Medium, p.Child("emptyDir", "medium"), storageMediums...)...)
		if ed.SizeLimit != nil {
			errs = append(errs, validateQuantityNonnegative(*ed.SizeLimit, p.Child("emptyDir", "sizeLimit"))...)
		}
	}
	if cm := vs.ConfigMap; cm != nil {
		cp := p.Child("configMap")
		errs = append(errs, requiredName(cm.Name, cp.Child("name"), validateDNS1123Subdomain)...)
		errs = append(errs, validateMode(cm.DefaultMode, cp.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(cm.Items, cp.Child("items"))...)
	}
	if s := vs.Secret; s != nil {
		sp := p.Child("secret")
		errs = append(errs, requiredName(s.SecretName, sp.Child("secretName"), validateDNS1123Subdomain)...)
		errs = append(errs, validateMode(s.DefaultMode, sp.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(s.Items, sp.Child("items"))...)
	}
	if pvc := vs.PersistentVolumeClaim; pvc != nil && pvc.ClaimName == "" {
		errs = append(errs, field.Required(p.Child("persistentVolumeClaim", "claimName"), ""))
	}
	if d := vs.DownwardAPI; d != nil {
		errs = append(errs, validateMode(d.DefaultMode, p.Child("downwardAPI", "defaultMode"))...)
		errs = append(errs, validateDownwardAPIFiles(d.Items, p.Child("downwardAPI", "items"))...)
	}
	if pr := vs.Projected; pr != nil {
		errs = append(errs, validateProjected(pr, p.Child("projected"))...)
	}
	if nfs := vs.NFS; nfs != nil {
		errs = append(errs, validateNFS(nfs, p.Child("nfs"))...)
	}
	if csi := vs.CSI; csi != nil && csi.Driver == "" {
		errs = append(errs, field.Required(p.Child("csi", "driver"), ""))
	}
	if e := vs.Ephemeral; e != nil {
		if e.VolumeClaimTemplate == nil {
			errs = append(errs, field.Required(p.Child("ephemeral", "volumeClaimTemplate"), ""))
		} else {
			errs = append(errs, validatePVCSpec(&e.VolumeClaimTemplate.Spec, p.Child("ephemeral", "volumeClaimTemplate", "spec"))...)
		}
	}
	if img := vs.Image; img != nil {
		if img.Reference == "" {
			errs = append(errs, field.Required(p.Child("image", "reference"), ""))
		}
		errs = append(errs, validateEnum(img.PullPolicy, p.Child("image", "pullPolicy"), append(pullPolicies, "")...)...)
	}
	return errs
}

func validateHostPath(hp *corev1.HostPathVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if hp.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	} else {
		for _, part := range strings.Split(hp.Path, "/") {
			if part == ".." {
				errs = append(errs, field.Invalid(p.Child("path"), hp.Path, "must not contain '..'"))
				break
			}
		}
	}
	if hp.Type != nil {
		errs = append(errs, validateEnum(*hp.Type, p.Child("type"), hostPathTypes...)...)
	}
	return errs
}

func validateNFS(nfs *corev1.NFSVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if nfs.Server == "" {
		errs = append(errs, field.Required(p.Child("server"), ""))
	}
	if nfs.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	} else if !strings.HasPrefix(nfs.Path, "/") {
		errs = append(errs, field.Invalid(p.Child("path"), nfs.Path, "must be an absolute path"))
	}
	return errs
}

// validateMode checks a file mode: 0 to 0777, the permission bits.
func validateMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode < 0 || *mode > 0o777) {
		return field.ErrorList{field.Invalid(p, *mode, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

func validateKeyToPaths(items []corev1.KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := p.Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		}
		if it.Path == "" {
			errs = append(errs, field.Required(ip.Child("path"), ""))
		} else {
			errs = append(errs, validateLocalPath(it.Path, ip.Child("path"))...)
		}
		errs = append(errs, validateMode(it.Mode, ip.Child("mode"))...)
	}
	return errs
}

func validateDownwardAPIFiles(items []corev1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := p.Index(i)
		if it.Path == "" {
			errs = append(errs, field.Required(ip.Child("path"), ""))
		} else {
			errs = append(errs, validateLocalPath(it.Path, ip.Child("path"))...)
		}
		errs = append(errs, validateMode(it.Mode, ip.Child("mode"))...)
		switch {
		case it.FieldRef != nil && it.ResourceFieldRef != nil:
			errs = append(errs, field.Invalid(ip, "", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case it.FieldRef == nil && it.ResourceFieldRef == nil:
			errs = append(errs, field.Required(ip, "one of fieldRef and resourceFieldRef is required"))
		case it.FieldRef != nil && it.FieldRef.FieldPath == "":
			errs = append(errs, field.Required(ip.Child("fieldRef", "fieldPath"), ""))
		}
	}
	return errs
}

func validateProjected(pr *corev1.ProjectedVolumeSource, p *field.Path) field.ErrorList {
	errs := validateMode(pr.DefaultMode, p.Child("defaultMode"))
	for i := range pr.Sources {
		src := &pr.Sources[i]
		sp := p.Child("sources").Index(i)
		if n := len(setSources(src)); n != 1 {
			errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type per source"))
			continue
		}
		if src.ConfigMap != nil {
			errs = append(errs, validateKeyToPaths(src.ConfigMap.Items, sp.Child("configMap", "items"))...)
		}
		if src.Secret != nil {
			errs = append(errs, validateKeyToPaths(src.Secret.Items, sp.Child("secret", "items"))...)
		}
		if src.DownwardAPI != nil {
			errs = append(errs, validateDownwardAPIFiles(src.DownwardAPI.Items, sp.Child("downwardAPI", "items"))...)
		}
		if t := src.ServiceAccountToken; t != nil {
			tp := sp.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds < 600 {
				errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
			}
			if t.Path == "" {
				errs = append(errs, field.Required(tp.Child("path"), ""))
			}
		}
	}
	return errs
}
