package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/peersapi"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
)

// observePods fills status from the group's member pods in the cache: pods
// controlled by one of its ReplicaSets, not any pod with its labels.
func (r *PeerGroupReconciler) observePods(ctx context.Context, run *reconcileRun) error {
	obj := run.obj
	replicaSets, members, err := peersapi.ListMembers(ctx, r.Client, obj)
	if err != nil {
		return err
	}
	run.replicaSets = replicaSets
	run.readyByHash = map[string]int32{}
	var existing, ready, published int32
	for i := range members {
		pod := &members[i]
		if _, ok := peersapi.Address(pod, obj.ServerPort()); ok {
			published++
		}
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		existing++
		if peersapi.IsReady(pod) {
			ready++
			run.readyByHash[pod.Labels[render.LabelTemplateHash]]++
		}
	}
	obj.Status.Replicas, obj.Status.ReadyReplicas, obj.Status.PublishedPeers = existing, ready, published
	obj.Status.Selector = render.Selector(obj)
	return nil
}

func (r *PeerGroupReconciler) reconcileServiceAccount(ctx context.Context, run *reconcileRun) error {
	_, err := r.apply(ctx, run.obj, render.ServiceAccount(run.obj), &corev1.ServiceAccount{})
	return err
}

func (r *PeerGroupReconciler) reconcileService(ctx context.Context, run *reconcileRun) error {
	_, err := r.apply(ctx, run.obj, render.Service(run.obj), &corev1.Service{})
	return err
}

func (r *PeerGroupReconciler) reconcileNetworkPolicy(ctx context.Context, run *reconcileRun) error {
	_, err := r.apply(ctx, run.obj, render.NetworkPolicy(run.obj, r.Render), &networkingv1.NetworkPolicy{})
	return err
}

// apply makes the cluster's object match desired with server-side apply
// (field manager peering-operator, forcing only the fields it renders), and
// does nothing when the cached object already matches. It never modifies an
// object the group does not control: see checkOwner. created reports that
// the object did not exist.
func (r *PeerGroupReconciler) apply(ctx context.Context, pg *v1alpha1.PeerGroup, desired, current client.Object) (created bool, err error) {
	kind := desired.GetObjectKind().GroupVersionKind().Kind
	key := client.ObjectKeyFromObject(desired)
	err = r.Get(ctx, key, current)
	switch {
	case apierrors.IsNotFound(err):
		// The cache holds only objects labelled as the operator's: ask the
		// API server whether something else already has the name.
		err = r.APIReader.Get(ctx, key, current)
		if apierrors.IsNotFound(err) {
			return true, classify("creating "+kind, r.serverSideApply(ctx, desired))
		}
		if err != nil {
			return false, fmt.Errorf("getting %s %s: %w", kind, key.Name, err)
		}
		if metav1.IsControlledBy(current, pg) && isSubset(render.Labels(pg), current.GetLabels()) {
			return false, &staleCacheError{fmt.Sprintf("%s %s exists but is not in the cache yet", kind, key.Name)}
		}
	case err != nil:
		return false, fmt.Errorf("getting %s %s: %w", kind, key.Name, err)
	}
	if err := checkOwner(pg, current, kind); err != nil {
		return false, err
	}
	if upToDate(desired, current) {
		return false, nil
	}
	// A precondition: if the cache is behind our own last write, the API
	// server answers Conflict and the reconcile is simply repeated.
	desired.SetResourceVersion(current.GetResourceVersion())
	return false, classify("applying "+kind, r.serverSideApply(ctx, desired))
}

// serverSideApply applies exactly the fields of desired.
func (r *PeerGroupReconciler) serverSideApply(ctx context.Context, desired client.Object) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return err
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u, "spec", "template", "metadata", "creationTimestamp")
	ac := client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u})
	return r.Apply(ctx, ac, client.FieldOwner(render.ManagedBy), client.ForceOwnership)
}

// checkOwner allows an object the group controls, or an orphan carrying the
// group's labels (left by `kubectl delete --cascade=orphan`), which the
// apply then adopts. An object controlled by a deleted PeerGroup of the same
// name is waited for (the garbage collector removes it); anything else
// stalls the group rather than being taken over.
func checkOwner(pg *v1alpha1.PeerGroup, o client.Object, kind string) error {
	ref := metav1.GetControllerOf(o)
	switch {
	case ref != nil && ref.UID == pg.UID:
		return nil
	case ref != nil && ref.Kind == "PeerGroup" && ref.Name == pg.Name:
		return &staleCacheError{fmt.Sprintf("%s %s still belongs to a deleted PeerGroup %s; waiting for the garbage collector", kind, o.GetName(), pg.Name)}
	case ref != nil:
		return &alreadyOwnedError{fmt.Sprintf("%s %s already exists and is controlled by %s %s", kind, o.GetName(), ref.Kind, ref.Name)}
	case isSubset(render.Labels(pg), o.GetLabels()):
		return nil
	default:
		return &alreadyOwnedError{fmt.Sprintf("%s %s already exists and was not created by %s for this PeerGroup; rename the PeerGroup or remove the %s", kind, o.GetName(), render.ManagedBy, kind)}
	}
}

// upToDate: current has every label, annotation and owner reference of
// desired, and every field desired sets (fields the API server defaults, or
// that others add, are not ours to compare).
func upToDate(desired, current client.Object) bool {
	if !isSubset(desired.GetLabels(), current.GetLabels()) || !isSubset(desired.GetAnnotations(), current.GetAnnotations()) {
		return false
	}
	for _, ref := range desired.GetOwnerReferences() {
		if !slices.ContainsFunc(current.GetOwnerReferences(), func(c metav1.OwnerReference) bool {
			return equality.Semantic.DeepEqual(ref, c)
		}) {
			return false
		}
	}
	var want, have any
	switch d := desired.(type) {
	case *appsv1.ReplicaSet:
		want, have = d.Spec, current.(*appsv1.ReplicaSet).Spec
	case *corev1.Service:
		want, have = d.Spec, current.(*corev1.Service).Spec
	case *networkingv1.NetworkPolicy:
		want, have = d.Spec, current.(*networkingv1.NetworkPolicy).Spec
	case *corev1.ServiceAccount: // no spec: the one field it renders
		return equality.Semantic.DeepEqual(d.AutomountServiceAccountToken, current.(*corev1.ServiceAccount).AutomountServiceAccountToken)
	default:
		return false
	}
	if !equality.Semantic.DeepDerivative(want, have) {
		return false
	}
	// DeepDerivative accepts a longer list in current (a rule appended by
	// hand): every list desired sets must have exactly its length.
	w, err1 := runtime.DefaultUnstructuredConverter.ToUnstructured(&want)
	h, err2 := runtime.DefaultUnstructuredConverter.ToUnstructured(&have)
	return err1 == nil && err2 == nil && sameListLengths(w, h)
}

func sameListLengths(desired, current any) bool {
	switch d := desired.(type) {
	case map[string]any:
		c, ok := current.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range d {
			if !sameListLengths(v, c[k]) {
				return false
			}
		}
	case []any:
		c, ok := current.([]any)
		if !ok || len(c) != len(d) {
			return false
		}
		for i := range d {
			if !sameListLengths(d[i], c[i]) {
				return false
			}
		}
	}
	return true
}

func isSubset(want, have map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// reconcileReplicaSets rolls the group to its current pod template like a
// Deployment with maxUnavailable 0 and a bounded surge: the new ReplicaSet
// grows by at most `surge` pods beyond the desired count, old ReplicaSets
// keep only as many Ready pods as the new one still lacks (old pods that are
// not Ready, such as an interrupted roll's, go at once), and once the new
// pods are all Ready the old ReplicaSets are deleted.
func (r *PeerGroupReconciler) reconcileReplicaSets(ctx context.Context, run *reconcileRun) error {
	obj := run.obj
	desired := render.ReplicaSet(obj, r.Render)
	hash := desired.Labels[render.LabelTemplateHash]
	want := *desired.Spec.Replicas
	var current *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for i := range run.replicaSets {
		rs := &run.replicaSets[i]
		if rs.Name == desired.Name {
			current = rs
			continue
		}
		if rs.DeletionTimestamp != nil || checkOwner(obj, rs, "ReplicaSet") != nil {
			continue // not this group's to change (a foreign or dying object)
		}
		if !metav1.IsControlledBy(rs, obj) { // an orphan of this group: adopt it
			if err := r.adopt(ctx, obj, rs); err != nil {
				return err
			}
		}
		old = append(old, rs)
	}

	// Old ReplicaSets first: each keeps at most its Ready pods, and all of
	// them together no more than the new template still lacks.
	budget := max(0, want-run.readyByHash[hash])
	slices.SortFunc(old, func(a, b *appsv1.ReplicaSet) int {
		return cmp.Compare(run.readyByHash[b.Labels[render.LabelTemplateHash]], run.readyByHash[a.Labels[render.LabelTemplateHash]])
	})
	var oldPods int32
	for _, rs := range old {
		keep := min(replicasOf(rs), run.readyByHash[rs.Labels[render.LabelTemplateHash]], budget)
		budget -= keep
		oldPods += keep
		if keep != replicasOf(rs) {
			if err := r.scale(ctx, rs, keep); err != nil {
				return err
			}
		}
	}
	desired.Spec.Replicas = ptrTo(min(want, want+surge(want)-oldPods))
	created, err := r.apply(ctx, obj, desired, &appsv1.ReplicaSet{})
	if err != nil {
		return err
	}
	n := *desired.Spec.Replicas
	switch {
	case created && len(old) == 0:
		r.event(obj, corev1.EventTypeNormal, ReasonCreated, "Create", "Created ReplicaSet %s with %d pods", desired.Name, n)
	case created:
		r.event(obj, corev1.EventTypeNormal, ReasonRolling, "Roll", "Rolling pods to template %s: created ReplicaSet %s with %d of %d pods; %d old ReplicaSet(s) shrink as its pods become Ready", hash, desired.Name, n, want, len(old))
	case current != nil && replicasOf(current) != n:
		r.event(obj, corev1.EventTypeNormal, ReasonScaled, "Scale", "Scaled ReplicaSet %s from %d to %d pods", desired.Name, replicasOf(current), n)
	}
	if len(old) == 0 {
		return nil
	}
	if oldPods > 0 || run.readyByHash[hash] < want {
		run.rolling = true
		return nil
	}
	for _, rs := range old {
		err := r.Delete(ctx, rs, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &rs.UID})
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting old ReplicaSet %s: %w", rs.Name, err)
		}
	}
	r.event(obj, corev1.EventTypeNormal, ReasonRolledOut, "Roll", "Rolled out template %s: %d pods ready; deleted %d old ReplicaSet(s)", hash, want, len(old))
	return nil
}

// surge is how many pods a roll may add beyond the desired count: a quarter
// (as a Deployment's default), at least one.
func surge(replicas int32) int32 { return max(1, (replicas+3)/4) }

func replicasOf(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// scale sets an old ReplicaSet's replicas with a merge patch guarded by the
// cached resourceVersion, so a stale cache conflicts instead of scaling twice.
func (r *PeerGroupReconciler) scale(ctx context.Context, rs *appsv1.ReplicaSet, n int32) error {
	patch := client.MergeFromWithOptions(rs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	rs.Spec.Replicas = &n
	return classify("scaling old ReplicaSet "+rs.Name, r.Patch(ctx, rs, patch, client.FieldOwner(render.ManagedBy)))
}

// adopt makes the group the controller of an orphaned ReplicaSet that
// carries its labels, as a ReplicaSet adopts matching orphan pods.
func (r *PeerGroupReconciler) adopt(ctx context.Context, pg *v1alpha1.PeerGroup, rs *appsv1.ReplicaSet) error {
	patch := client.MergeFromWithOptions(rs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	rs.OwnerReferences = append(rs.OwnerReferences, render.ControllerRef(pg))
	if err := r.Patch(ctx, rs, patch, client.FieldOwner(render.ManagedBy)); err != nil {
		return classify("adopting ReplicaSet "+rs.Name, err)
	}
	r.event(pg, corev1.EventTypeNormal, ReasonAdopted, "Adopt", "Adopted orphaned ReplicaSet %s", rs.Name)
	return nil
}

func ptrTo[T any](v T) *T { return &v }
