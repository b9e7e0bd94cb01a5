package validation

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	for i, f := range ns.Spec.Finalizers {
		errs = append(errs, validateFinalizerName(string(f), specPath.Child("finalizers").Index(i))...)
	}
	return errs
}

// validateFinalizerName: a namespace finalizer is a qualified name, and
// one without a domain must be the built-in "kubernetes".
func validateFinalizerName(v string, p *field.Path) field.ErrorList {
	errs := validateQualifiedName(v, p)
	if !strings.Contains(v, "/") && v != string(corev1.FinalizerKubernetes) {
		errs = append(errs, field.Invalid(p, v, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return errs
}

var namespacePhases = []corev1.NamespacePhase{corev1.NamespaceActive, corev1.NamespaceTerminating}

func validateNamespaceStatusUpdate(ns, old *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	if ns.Status.Phase != "" {
		errs = append(errs, validateEnum(ns.Status.Phase, statusPath.Child("phase"), namespacePhases...)...)
	}
	// Only a namespace being deleted may be Terminating.
	if ns.DeletionTimestamp.IsZero() && ns.Status.Phase == corev1.NamespaceTerminating {
		errs = append(errs, field.Invalid(statusPath.Child("phase"), ns.Status.Phase, "may only be Terminating if `metadata.deletionTimestamp` is set"))
	}
	return errs
}

// validateDataKeys checks ConfigMap/Secret keys and adds up the size,
// which etcd's request size limit caps at 1 MiB.
func validateDataKeys[V string | []byte](data map[string]V, p *field.Path, seen *duplicates) (int, field.ErrorList) {
	var errs field.ErrorList
	size := 0
	for k, v := range data {
		errs = append(errs, invalidEach(p.Key(k), k, validation.IsConfigMapKey(k))...)
		if seen != nil {
			errs = append(errs, seen.check(k, p.Key(k))...)
		}
		size += len(v)
	}
	return size, errs
}

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	seen := &duplicates{}
	size, errs := validateDataKeys(cm.Data, field.NewPath("data"), seen)
	bsize, berrs := validateDataKeys(cm.BinaryData, field.NewPath("binaryData"), seen)
	errs = append(errs, berrs...)
	if size+bsize > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(field.NewPath("data"), "", corev1.MaxSecretSize))
	}
	return errs
}

func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	return validateImmutableData(old.Immutable, cm.Immutable,
		!equality.Semantic.DeepEqual(cm.Data, old.Data), !equality.Semantic.DeepEqual(cm.BinaryData, old.BinaryData), "binaryData")
}

// validateImmutableData enforces immutable=true: the data may not change
// and the flag may not be cleared.
func validateImmutableData(oldImm, newImm *bool, dataChanged, otherChanged bool, other string) field.ErrorList {
	if oldImm == nil || !*oldImm {
		return nil
	}
	const msg = "field is immutable when `immutable` is set"
	var errs field.ErrorList
	if newImm == nil || !*newImm {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), msg))
	}
	if dataChanged {
		errs = append(errs, field.Forbidden(field.NewPath("data"), msg))
	}
	if otherChanged {
		errs = append(errs, field.Forbidden(field.NewPath(other), msg))
	}
	return errs
}

// requiredSecretKeys are the keys each well-known secret type must carry.
var requiredSecretKeys = map[corev1.SecretType][]string{
	corev1.SecretTypeDockercfg:        {corev1.DockerConfigKey},
	corev1.SecretTypeDockerConfigJson: {corev1.DockerConfigJsonKey},
	corev1.SecretTypeSSHAuth:          {corev1.SSHAuthPrivateKey},
	corev1.SecretTypeTLS:              {corev1.TLSCertKey, corev1.TLSPrivateKeyKey},
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	dataPath := field.NewPath("data")
	size, errs := validateDataKeys(s.Data, dataPath, nil)
	ssize, serrs := validateDataKeys(s.StringData, field.NewPath("stringData"), nil)
	errs = append(errs, serrs...)
	if size+ssize > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(dataPath, "", corev1.MaxSecretSize))
	}
	has := func(k string) bool {
		_, ok := s.Data[k]
		_, sok := s.StringData[k]
		return ok || sok
	}
	typePath := field.NewPath("type")
	errs = append(errs, validateQualifiedName(string(s.Type), typePath)...)
	for _, k := range requiredSecretKeys[s.Type] {
		if !has(k) {
			errs = append(errs, field.Required(dataPath.Key(k), ""))
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockerConfigJson:
		if v, ok := s.Data[corev1.DockerConfigJsonKey]; ok && !json.Valid(v) {
			errs = append(errs, field.Invalid(dataPath.Key(corev1.DockerConfigJsonKey), "<secret contents redacted>", "invalid JSON"))
		}
	case corev1.SecretTypeBasicAuth:
		if !has(corev1.BasicAuthUsernameKey) && !has(corev1.BasicAuthPasswordKey) {
			errs = append(errs, field.Required(dataPath.Key(corev1.BasicAuthUsernameKey), ""))
		}
	}
	return errs
}

func validateSecretUpdate(s, old *corev1.Secret) field.ErrorList {
	errs := immutable(s.Type, old.Type, field.NewPath("type"))
	dataChanged := !equality.Semantic.DeepEqual(s.Data, old.Data) || len(s.StringData) > 0
	return append(errs, validateImmutableData(old.Immutable, s.Immutable, dataChanged, false, "")...)
}

func validateNode(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	if n.Spec.PodCIDR != "" {
		errs = append(errs, validateCIDR(n.Spec.PodCIDR, specPath.Child("podCIDR"))...)
	}
	cidrsPath := specPath.Child("podCIDRs")
	for i, c := range n.Spec.PodCIDRs {
		errs = append(errs, validateCIDR(c, cidrsPath.Index(i))...)
	}
	if len(n.Spec.PodCIDRs) > 2 {
		errs = append(errs, field.Invalid(cidrsPath, n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	if len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDR != n.Spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(cidrsPath.Index(0), n.Spec.PodCIDRs[0], "must match `podCIDR`"))
	}
	seen := duplicates{}
	for i, t := range n.Spec.Taints {
		tp := specPath.Child("taints").Index(i)
		errs = append(errs, requiredName(t.Key, tp.Child("key"), validateQualifiedName)...)
		if t.Value != "" {
			errs = append(errs, invalidEach(tp.Child("value"), t.Value, validation.IsValidLabelValue(t.Value))...)
		}
		errs = append(errs, validateRequiredEnum(t.Effect, tp.Child("effect"), taintEffects...)...)
		if d := seen.check(t.Key+":"+string(t.Effect), tp); len(d) > 0 {
			errs = append(errs, field.Duplicate(tp, fmt.Sprintf("%s:%s", t.Key, t.Effect)))
		}
	}
	for i, a := range n.Status.Addresses {
		if a.Address == "" {
			errs = append(errs, field.Required(statusPath.Child("addresses").Index(i).Child("address"), ""))
		}
	}
	return errs
}

// validateNodeUpdate: pod CIDRs and providerID are assigned once; the
// node's pods and routes depend on them.
func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	errs := validateNode(n)
	if old.Spec.PodCIDR != "" && n.Spec.PodCIDR != old.Spec.PodCIDR {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDR"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if len(old.Spec.PodCIDRs) > 0 && !equality.Semantic.DeepEqual(n.Spec.PodCIDRs, old.Spec.PodCIDRs) {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.Spec.ProviderID != "" && n.Spec.ProviderID != old.Spec.ProviderID {
		errs = append(errs, field.Forbidden(specPath.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

// validateCoreEvent is lenient, like upstream for legacy core/v1 events:
// many old clients post them with free-form fields.
func validateCoreEvent(e *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	if ns := e.InvolvedObject.Namespace; ns != "" && ns != e.Namespace {
		errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), ns, "does not match event.namespace"))
	}
	errs = append(errs, validateNonnegative(int64(e.Count), field.NewPath("count"))...)
	return errs
}

var (
	accessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany,
		corev1.ReadWriteMany, corev1.ReadWriteOncePod}
	reclaimPolicies = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimRetain,
		corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimDelete}
	volumeModes = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
)

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, p *field.Path) field.ErrorList {
	if len(modes) == 0 {
		return field.ErrorList{field.Required(p, "at least 1 access mode is required")}
	}
	var errs field.ErrorList
	for _, m := range modes {
		errs = append(errs, validateEnum(m, p, accessModes...)...)
		if m == corev1.ReadWriteOncePod && len(modes) > 1 {
			errs = append(errs, field.Forbidden(p, "may not use ReadWriteOncePod with other access modes"))
		}
	}
	return errs
}

func validatePV(pv *corev1.PersistentVolume) field.ErrorList {
	spec := &pv.Spec
	errs := validateAccessModes(spec.AccessModes, specPath.Child("accessModes"))
	if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		errs = append(errs, field.NotSupported(specPath.Child("capacity"), spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	errs = append(errs, validateResourceList(spec.Capacity, specPath.Child("capacity"))...)
	errs = append(errs, validateEnum(spec.PersistentVolumeReclaimPolicy, specPath.Child("persistentVolumeReclaimPolicy"), reclaimPolicies...)...)
	if spec.StorageClassName != "" {
		errs = append(errs, validateDNS1123Subdomain(spec.StorageClassName, specPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil {
		errs = append(errs, validateEnum(*spec.VolumeMode, specPath.Child("volumeMode"), volumeModes...)...)
	}
	src := &spec.PersistentVolumeSource
	errs = append(errs, exactlyOneSource(setSources(src), specPath)...)
	if src.HostPath != nil {
		errs = append(errs, validateHostPath(src.HostPath, specPath.Child("hostPath"))...)
	}
	if src.NFS != nil {
		errs = append(errs, validateNFS(src.NFS, specPath.Child("nfs"))...)
	}
	if src.CSI != nil {
		if src.CSI.Driver == "" {
			errs = append(errs, field.Required(specPath.Child("csi", "driver"), ""))
		}
		if src.CSI.VolumeHandle == "" {
			errs = append(errs, field.Required(specPath.Child("csi", "volumeHandle"), ""))
		}
	}
	if src.Local != nil {
		if src.Local.Path == "" {
			errs = append(errs, field.Required(specPath.Child("local", "path"), ""))
		}
		if spec.NodeAffinity == nil || spec.NodeAffinity.Required == nil {
			errs = append(errs, field.Required(specPath.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	}
	return errs
}

func validatePVUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	var errs field.ErrorList
	if !equality.Semantic.DeepEqual(pv.Spec.PersistentVolumeSource, old.Spec.PersistentVolumeSource) {
		errs = append(errs, field.Forbidden(specPath.Child("persistentvolumesource"), "spec.persistentvolumesource is immutable after creation"))
	}
	errs = append(errs, immutable(pv.Spec.VolumeMode, old.Spec.VolumeMode, specPath.Child("volumeMode"))...)
	if old.Spec.NodeAffinity != nil {
		errs = append(errs, immutable(pv.Spec.NodeAffinity, old.Spec.NodeAffinity, specPath.Child("nodeAffinity"))...)
	}
	return errs
}

func validatePVCSpec(spec *corev1.PersistentVolumeClaimSpec, p *field.Path) field.ErrorList {
	errs := validateAccessModes(spec.AccessModes, p.Child("accessModes"))
	errs = append(errs, validateSelector(spec.Selector, p.Child("selector"), "")...)
	storage, ok := spec.Resources.Requests[corev1.ResourceStorage]
	switch {
	case !ok:
		errs = append(errs, field.Required(p.Child("resources").Key(string(corev1.ResourceStorage)), ""))
	case storage.Sign() <= 0:
		errs = append(errs, field.Invalid(p.Child("resources", "requests").Key(string(corev1.ResourceStorage)), storage.String(), "must be greater than zero"))
	}
	errs = append(errs, validateResourceList(spec.Resources.Requests, p.Child("resources", "requests"))...)
	errs = append(errs, validateResourceList(spec.Resources.Limits, p.Child("resources", "limits"))...)
	if spec.StorageClassName != nil && *spec.StorageClassName != "" {
		errs = append(errs, validateDNS1123Subdomain(*spec.StorageClassName, p.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil {
		errs = append(errs, validateEnum(*spec.VolumeMode, p.Child("volumeMode"), volumeModes...)...)
	}
	if ds := spec.DataSource; ds != nil {
		errs = append(errs, requiredName(ds.Name, p.Child("dataSource", "name"), func(string, *field.Path) field.ErrorList { return nil })...)
		errs = append(errs, requiredName(ds.Kind, p.Child("dataSource", "kind"), func(string, *field.Path) field.ErrorList { return nil })...)
	}
	return errs
}

// validatePVCUpdate: a claim's spec is fixed, except that the binder sets
// volumeName once and a bound claim may be expanded (never shrunk).
func validatePVCUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	oldSpec := old.Spec.DeepCopy()
	if oldSpec.VolumeName == "" {
		oldSpec.VolumeName = pvc.Spec.VolumeName
	}
	newReq := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	oldReq := old.Spec.Resources.Requests[corev1.ResourceStorage]
	var errs field.ErrorList
	if old.Status.Phase == corev1.ClaimBound {
		oldSpec.Resources.Requests = pvc.Spec.Resources.Requests
		if newReq.Cmp(oldReq) < 0 {
			errs = append(errs, field.Forbidden(specPath.Child("resources", "requests", "storage"), "field can not be less than previous value"))
		}
	}
	oldSpec.VolumeAttributesClassName = pvc.Spec.VolumeAttributesClassName
	if !equality.Semantic.DeepEqual(*oldSpec, pvc.Spec) {
		errs = append(errs, field.Forbidden(specPath, "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	return errs
}

var quotaScopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
	corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopePriorityClass,
	corev1.ResourceQuotaScopeCrossNamespacePodAffinity, corev1.ResourceQuotaScopeVolumeAttributesClass}

func validateResourceQuota(q *corev1.ResourceQuota) field.ErrorList {
	errs := validateResourceList(q.Spec.Hard, specPath.Child("hard"))
	for i, s := range q.Spec.Scopes {
		errs = append(errs, validateEnum(s, specPath.Child("scopes").Index(i), quotaScopes...)...)
	}
	return errs
}

var limitTypes = []corev1.LimitType{corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim}

// validateLimitRange checks each item's bounds are ordered:
// min <= defaultRequest <= default <= max.
func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	var errs field.ErrorList
	for i, it := range lr.Spec.Limits {
		ip := specPath.Child("limits").Index(i)
		errs = append(errs, validateRequiredEnum(it.Type, ip.Child("type"), limitTypes...)...)
		for _, l := range []struct {
			name string
			list corev1.ResourceList
		}{{"max", it.Max}, {"min", it.Min}, {"default", it.Default}, {"defaultRequest", it.DefaultRequest}, {"maxLimitRequestRatio", it.MaxLimitRequestRatio}} {
			errs = append(errs, validateResourceList(l.list, ip.Child(l.name))...)
		}
		if it.Type == corev1.LimitTypePod && (len(it.Default) > 0 || len(it.DefaultRequest) > 0) {
			errs = append(errs, field.Forbidden(ip.Child("default"), "may not be specified when `type` is 'Pod'"))
		}
		order := func(lo, hi corev1.ResourceList, loName, hiName string, at *field.Path) {
			for k, l := range lo {
				if h, ok := hi[k]; ok && l.Cmp(h) > 0 {
					errs = append(errs, field.Invalid(at.Key(string(k)), l.String(),
						fmt.Sprintf("%s value %s is greater than %s value %s", loName, l.String(), hiName, h.String())))
				}
			}
		}
		order(it.Min, it.Max, "min", "max", ip.Child("min"))
		order(it.Min, it.DefaultRequest, "min", "default request", ip.Child("min"))
		order(it.DefaultRequest, it.Default, "default request", "default limit", ip.Child("defaultRequest"))
		order(it.Default, it.Max, "default", "max", ip.Child("default"))
	}
	return errs
}
