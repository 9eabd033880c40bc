package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/internal/peersapi"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
)

// renderedHashAnnotation records what we last wrote, so an unchanged object
// costs no write at all.
const renderedHashAnnotation = "peering.simulated-peering.io/rendered-hash"

// observePods fills status from the group's pods in the cache.
func (r *PeerGroupReconciler) observePods(ctx context.Context, run *reconcileRun) error {
	obj := run.obj
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(obj.Namespace), client.MatchingLabels(render.SelectorLabels(obj))); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	run.readyByHash = map[string]int32{}
	var existing, ready int32
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		existing++
		if peersapi.IsReady(pod) {
			ready++
			run.readyByHash[pod.Labels[render.LabelTemplateHash]]++
		}
	}
	obj.Status.Replicas, obj.Status.ReadyReplicas = existing, ready
	obj.Status.Selector = render.Selector(obj)
	obj.Status.Peers = nil
	for _, p := range peersapi.Build(obj, pods.Items).Doc.Peers {
		obj.Status.Peers = append(obj.Status.Peers, p.Address)
	}
	return nil
}

func (r *PeerGroupReconciler) reconcileService(ctx context.Context, run *reconcileRun) error {
	return r.apply(ctx, render.Service(run.obj), &corev1.Service{})
}

func (r *PeerGroupReconciler) reconcileNetworkPolicy(ctx context.Context, run *reconcileRun) error {
	return r.apply(ctx, render.NetworkPolicy(run.obj, r.Render), &networkingv1.NetworkPolicy{})
}

// apply creates desired, or replaces current when what we render changed.
func (r *PeerGroupReconciler) apply(ctx context.Context, desired, current client.Object) error {
	kind := desired.GetObjectKind().GroupVersionKind().Kind
	b, err := json.Marshal(desired)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	desired.SetAnnotations(map[string]string{renderedHashAnnotation: hex.EncodeToString(sum[:8])})
	err = r.Get(ctx, client.ObjectKeyFromObject(desired), current)
	switch {
	case apierrors.IsNotFound(err):
		return classify("creating "+kind, r.Create(ctx, desired, client.FieldOwner(render.ManagedBy)))
	case err != nil:
		return fmt.Errorf("getting %s: %w", kind, err)
	case current.GetAnnotations()[renderedHashAnnotation] == desired.GetAnnotations()[renderedHashAnnotation]:
		return nil
	}
	desired.SetResourceVersion(current.GetResourceVersion())
	return classify("updating "+kind, r.Update(ctx, desired, client.FieldOwner(render.ManagedBy)))
}

// reconcileReplicaSets keeps one ReplicaSet per pod template. The current
// template's ReplicaSet gets the desired replicas; ReplicaSets of older
// templates keep running until the new pods are all Ready, so a roll never
// takes the whole mesh down, and are then deleted.
func (r *PeerGroupReconciler) reconcileReplicaSets(ctx context.Context, run *reconcileRun) error {
	obj := run.obj
	desired := render.ReplicaSet(obj, r.Render)
	hash := desired.Labels[render.LabelTemplateHash]
	var list appsv1.ReplicaSetList
	if err := r.List(ctx, &list, client.InNamespace(obj.Namespace), client.MatchingLabels(render.SelectorLabels(obj))); err != nil {
		return fmt.Errorf("listing ReplicaSets: %w", err)
	}
	var current *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for i := range list.Items {
		rs := &list.Items[i]
		if !metav1.IsControlledBy(rs, obj) {
			continue
		}
		if rs.Name == desired.Name {
			current = rs
		} else if rs.DeletionTimestamp == nil {
			old = append(old, rs)
		}
	}
	want := *desired.Spec.Replicas
	switch {
	case current == nil:
		if err := r.Create(ctx, desired, client.FieldOwner(render.ManagedBy)); err != nil {
			return classify("creating ReplicaSet", err)
		}
		if len(old) == 0 {
			r.event(obj, corev1.EventTypeNormal, ReasonCreated, "Create", "Created ReplicaSet %s with %d pods", desired.Name, want)
		} else {
			r.event(obj, corev1.EventTypeNormal, ReasonRolling, "Roll", "Rolling pods to template %s: created ReplicaSet %s with %d pods; %d old ReplicaSet(s) stay until it is ready", hash, desired.Name, want, len(old))
		}
	case current.Spec.Replicas == nil || *current.Spec.Replicas != want:
		from := int32(0)
		if current.Spec.Replicas != nil {
			from = *current.Spec.Replicas
		}
		patch := client.MergeFrom(current.DeepCopy())
		current.Spec.Replicas = &want
		if err := r.Patch(ctx, current, patch, client.FieldOwner(render.ManagedBy)); err != nil {
			return classify("scaling ReplicaSet", err)
		}
		r.event(obj, corev1.EventTypeNormal, ReasonScaled, "Scale", "Scaled ReplicaSet %s from %d to %d pods", current.Name, from, want)
	}
	if len(old) == 0 {
		return nil
	}
	if run.readyByHash[hash] < want {
		run.rolling = true
		return nil
	}
	for _, rs := range old {
		if err := r.Delete(ctx, rs, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting old ReplicaSet %s: %w", rs.Name, err)
		}
	}
	r.event(obj, corev1.EventTypeNormal, ReasonRolledOut, "Roll", "Rolled out template %s: %d pods ready; deleted %d old ReplicaSet(s)", hash, want, len(old))
	return nil
}
