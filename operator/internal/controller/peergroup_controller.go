// Package controller reconciles PeerGroups into a ReplicaSet per pod
// template, a headless Service and a NetworkPolicy, and reports status.
package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	fluxcontroller "github.com/fluxcd/pkg/runtime/controller"
	"github.com/fluxcd/pkg/runtime/patch"
	"github.com/fluxcd/pkg/runtime/predicates"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/health"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
)

// Reasons of conditions and events.
const (
	ReasonSucceeded   = meta.SucceededReason   // all pods ready
	ReasonProgressing = meta.ProgressingReason // waiting for pods
	ReasonFailed      = "ReconciliationFailed" // an API call failed; retried
	ReasonInvalid     = "InvalidObject"        // the API server rejected what we rendered; retrying cannot help
	ReasonCreated     = "Created"
	ReasonScaled      = "Scaled"
	ReasonRolling     = "Rolling"
	ReasonRolledOut   = "RolledOut"
	ReasonAdopted     = "Adopted"
	// ReasonLinkDown: a Down suspect appeared (or a Degraded one went down);
	// ReasonLinkDegraded: a Degraded one did; ReasonLinksRecovered: it cleared.
	ReasonLinkDown       = "LinkDown"
	ReasonLinkDegraded   = "LinkDegraded"
	ReasonLinksRecovered = "LinksRecovered"
	// ReasonAlreadyOwned: an object the group would render exists and is not
	// the group's; the operator never takes it over.
	ReasonAlreadyOwned = "AlreadyOwned"
	// ReasonProgressDeadlineExceeded: pods did not become Ready within
	// spec.progressDeadline.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
)

// +kubebuilder:rbac:groups=peering.simulated-peering.io,resources=peergroups,verbs=get;list;watch
// +kubebuilder:rbac:groups=peering.simulated-peering.io,resources=peergroups/status,verbs=get;patch
// +kubebuilder:rbac:groups=peering.simulated-peering.io,resources=peergroups/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch;create;patch;delete
// delete on Services and NetworkPolicies: never called, but adopting an orphan
// (setting its owner reference) needs it under OwnerReferencesPermissionEnforcement.
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// PeerGroupReconciler reconciles PeerGroups.
type PeerGroupReconciler struct {
	client.Client
	// APIReader reads past the cache, which holds only the operator's own
	// objects: it tells whether a name is taken by someone else's object.
	APIReader     client.Reader
	EventRecorder events.EventRecorder
	Metrics       fluxcontroller.Metrics
	Render        render.Options
	// Links, when set, holds each group's latest link summary; its Changed
	// channel triggers a reconcile that writes it to the status.
	Links *health.Collector
}

// SetupWithManager watches PeerGroups (on spec changes and reconcile
// requests), the objects they own, and their pods.
func (r *PeerGroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.PeerGroup{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicates.ReconcileRequestedPredicate{}))).
		Owns(&appsv1.ReplicaSet{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(groupOfPod))
	if r.Links != nil {
		b = b.WatchesRawSource(source.Channel(r.Links.Changed, &handler.TypedEnqueueRequestForObject[*v1alpha1.PeerGroup]{}))
	}
	return b.Complete(r)
}

func groupOfPod(_ context.Context, o client.Object) []reconcile.Request {
	key, ok := render.GroupOf(o)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: key}}
}

// Reconcile: get → serial patcher → named steps → deferred status summary.
func (r *PeerGroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := time.Now()
	obj := &v1alpha1.PeerGroup{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, stopping(ctx, client.IgnoreNotFound(err))
	}
	if !obj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references let the garbage collector clean up
	}
	patcher := patch.NewSerialPatcher(obj, r.Client)
	run := &reconcileRun{obj: obj}
	defer func() {
		if ctx.Err() != nil {
			result, retErr = ctrl.Result{}, nil // stopping: nothing to record, see stopping
			return
		}
		result, retErr = r.summarize(ctx, obj, patcher, run.rolling, retErr)
		retErr = stopping(ctx, retErr)
		r.Metrics.RecordDuration(ctx, obj, start)
	}()
	if v, ok := meta.ReconcileAnnotationValue(obj.GetAnnotations()); ok {
		obj.Status.SetLastHandledReconcileRequest(v)
	}
	for _, step := range []func(context.Context, *reconcileRun) error{
		r.observePods,
		r.reconcileServiceAccount, // before the pods that name it
		r.reconcileService,
		r.reconcileNetworkPolicy,
		r.reconcileReplicaSets,
	} {
		if err := step(ctx, run); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// stopping drops err when the operator is stopping (a shutdown, a lost
// lease): a call cut short then is not the group's failure, the next
// leader reconciles the group again, and a routine upgrade must log no
// ERROR (controller-runtime logs every returned error as one).
func stopping(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if err != nil {
			log.FromContext(ctx).V(1).Info("reconcile cut short by the operator stopping", "error", err.Error())
		}
		return nil
	}
	return err
}

// reconcileRun is what one reconcile's steps learn and share.
type reconcileRun struct {
	obj *v1alpha1.PeerGroup
	// replicaSets are those carrying the group's labels (whoever controls them).
	replicaSets []appsv1.ReplicaSet
	// readyByHash counts ready member pods per template hash.
	readyByHash map[string]int32
	// rolling is true while pods of an old template still run.
	rolling bool
}

// summarize sets Ready/Reconciling/Stalled from the outcome and patches the
// status. Events are emitted only when the failure is new, not on retries.
// A cache that has not yet seen the operator's own write is no failure: the
// reconcile is repeated and the conditions stay as they were.
func (r *PeerGroupReconciler) summarize(ctx context.Context, obj *v1alpha1.PeerGroup, patcher *patch.SerialPatcher, rolling bool, err error) (ctrl.Result, error) {
	desired := obj.DesiredReplicas()
	progress := fmt.Sprintf("%d/%d pods ready", obj.Status.ReadyReplicas, desired)
	waiting := obj.Status.ReadyReplicas < desired || obj.Status.Replicas != desired || rolling
	var result ctrl.Result
	var invalid *invalidError
	var owned *alreadyOwnedError
	var stale *staleCacheError
	switch {
	case errors.As(err, &stale) || apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		log.FromContext(ctx).V(1).Info("requeue: the cache is behind", "reason", err.Error())
		return ctrl.Result{RequeueAfter: staleRequeue}, nil
	case errors.As(err, &owned):
		r.stall(obj, ReasonAlreadyOwned, err)
		err = reconcile.TerminalError(err) // no retry until the spec changes
	case errors.As(err, &invalid):
		r.stall(obj, ReasonInvalid, err)
		err = reconcile.TerminalError(err)
	case err != nil:
		if ready := conditions.Get(obj, meta.ReadyCondition); ready == nil || ready.Message != err.Error() {
			r.event(obj, corev1.EventTypeWarning, ReasonFailed, "Reconcile", "%s", err)
		}
		conditions.Delete(obj, meta.StalledCondition)
		conditions.MarkReconciling(obj, ReasonFailed, "%s", err)
		conditions.MarkFalse(obj, meta.ReadyCondition, ReasonFailed, "%s", err)
	case waiting:
		now := time.Now()
		if obj.Status.ProgressingSince == nil || obj.Status.ObservedGeneration != obj.Generation {
			obj.Status.ProgressingSince = &metav1.Time{Time: now}
		}
		deadline := obj.Status.ProgressingSince.Add(obj.ProgressDeadlineOrDefault())
		if now.Before(deadline) {
			conditions.Delete(obj, meta.StalledCondition)
			conditions.MarkReconciling(obj, ReasonProgressing, "%s", progress)
			conditions.MarkFalse(obj, meta.ReadyCondition, ReasonProgressing, "%s", progress)
			result.RequeueAfter = deadline.Sub(now) + time.Second // to notice the deadline without an event
			break
		}
		r.stall(obj, ReasonProgressDeadlineExceeded, fmt.Errorf("%s after %s (spec.progressDeadline); the pods' events say why", progress, obj.ProgressDeadlineOrDefault()))
	default:
		obj.Status.ProgressingSince = nil
		conditions.Delete(obj, meta.StalledCondition)
		conditions.Delete(obj, meta.ReconcilingCondition)
		conditions.MarkTrue(obj, meta.ReadyCondition, ReasonSucceeded, "%s", progress)
	}
	r.summarizeLinks(obj)
	perr := patcher.Patch(ctx, obj,
		patch.WithOwnedConditions{Conditions: []string{meta.ReadyCondition, meta.ReconcilingCondition, meta.StalledCondition, health.LinksHealthyCondition}},
		patch.WithStatusObservedGeneration{}, patch.WithFieldOwner(render.ManagedBy))
	r.Metrics.RecordReadiness(ctx, obj)
	r.Metrics.RecordReconciling(ctx, obj)
	r.Metrics.RecordStalled(ctx, obj)
	// LinksHealthy too, so an alert can tell a group whose links are not
	// measured (Unknown) from one that is healthy.
	if r.Metrics.IsDelete(obj) {
		r.Metrics.DeleteCondition(ctx, obj, health.LinksHealthyCondition)
	} else {
		r.Metrics.RecordCondition(ctx, obj, health.LinksHealthyCondition)
	}
	return result, errors.Join(err, client.IgnoreNotFound(perr))
}

// summarizeLinks writes the collector's latest summary of the group's
// links: status.links, status.suspects and LinksHealthy, and one event per
// suspect that appears or changes severity (LinkDown, LinkDegraded) or
// clears (LinksRecovered). Before the first round a new group's links read
// "pending"; a group that has a summary (a new leader) keeps it.
func (r *PeerGroupReconciler) summarizeLinks(obj *v1alpha1.PeerGroup) {
	if r.Links == nil {
		return
	}
	res, ok := r.Links.Latest(client.ObjectKeyFromObject(obj))
	if !ok {
		if obj.Status.Links == nil {
			obj.Status.Links = &v1alpha1.LinksStatus{Summary: "pending"}
		}
		return
	}
	before := map[string]string{} // severity by suspect
	for _, s := range obj.Status.Suspects {
		before[health.Ref(s)] = s.Severity
	}
	now := map[string]bool{}
	for _, s := range res.Suspects {
		now[health.Ref(s)] = true
		if severity, listed := before[health.Ref(s)]; !listed || severity != s.Severity {
			reason := ReasonLinkDown
			if s.Severity == "Degraded" {
				reason = ReasonLinkDegraded
			}
			r.event(obj, corev1.EventTypeWarning, reason, "Ping", "%s since %s", health.Describe(s), s.Since.UTC().Format(time.RFC3339))
		}
	}
	for _, s := range obj.Status.Suspects {
		if !now[health.Ref(s)] {
			r.event(obj, corev1.EventTypeNormal, ReasonLinksRecovered, "Ping", "%s %s recovered: its links are up and not lossy", strings.ToLower(s.Kind), s.Name)
		}
	}
	links := res.Links
	if links.Expected == 0 && obj.DesiredReplicas() > 1 {
		links.Summary = "pending" // its pods are still coming: links to come
	}
	obj.Status.Links, obj.Status.Suspects = &links, res.Suspects
	status, reason, msg := health.Condition(res.Links, res.Suspects)
	switch status {
	case metav1.ConditionTrue:
		conditions.MarkTrue(obj, health.LinksHealthyCondition, reason, "%s", msg)
	case metav1.ConditionFalse:
		conditions.MarkFalse(obj, health.LinksHealthyCondition, reason, "%s", msg)
	default:
		conditions.MarkUnknown(obj, health.LinksHealthyCondition, reason, "%s", msg)
	}
}

// staleRequeue is how soon a reconcile that met a stale cache runs again.
const staleRequeue = time.Second

// stall marks the group Stalled (kstatus Failed) for reason, with a Warning
// event only when it was not already stalled for it.
func (r *PeerGroupReconciler) stall(obj *v1alpha1.PeerGroup, reason string, err error) {
	if conditions.GetReason(obj, meta.StalledCondition) != reason || !conditions.IsStalled(obj) {
		r.event(obj, corev1.EventTypeWarning, reason, "Reconcile", "%s", err)
	}
	conditions.MarkStalled(obj, reason, "%s", err)
	conditions.MarkFalse(obj, meta.ReadyCondition, reason, "%s", err)
	conditions.Delete(obj, meta.ReconcilingCondition)
}

func (r *PeerGroupReconciler) event(obj *v1alpha1.PeerGroup, eventType, reason, action, note string, args ...any) {
	if r.EventRecorder != nil {
		r.EventRecorder.Eventf(obj, nil, eventType, reason, action, note, args...)
	}
}

// alreadyOwnedError: an object the group renders exists and is not its own.
type alreadyOwnedError struct{ msg string }

func (e *alreadyOwnedError) Error() string { return e.msg }

// staleCacheError: the cache has not caught up yet; the reconcile is repeated.
type staleCacheError struct{ msg string }

func (e *staleCacheError) Error() string { return e.msg }

// invalidError marks an object the API server rejected as invalid.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }
func (e *invalidError) Unwrap() error { return e.err }

// classify wraps an API error so summarize can tell terminal from transient.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", what, err)
	if apierrors.IsInvalid(err) {
		return &invalidError{err}
	}
	return err
}
