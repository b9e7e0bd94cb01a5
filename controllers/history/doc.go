// Package history keeps the ControllerRevisions that DaemonSets and
// StatefulSets record their pod templates in, as kube-controller-manager's
// controller history does, so that `kubectl rollout history|undo` can read
// and restore them.
//
// A revision holds a strategic merge patch that replaces the parent's
// spec.template (TemplatePatch); its name is "<parent>-<hash>" where the
// hash covers the patch and the parent's collision count, and it carries
// the template's labels plus controller-revision-hash. Revisions belong to
// their parent by a controller ownerReference and are found through the
// parent's selector; orphans that match are adopted, owned revisions that
// no longer match are released.
package history
