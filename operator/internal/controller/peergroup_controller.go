// Package controller reconciles PeerGroups into a ReplicaSet per pod
// template, a headless Service and a NetworkPolicy, and reports status.
package controller

import (
	"context"
	"errors"
	"fmt"
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
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
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
)

// +kubebuilder:rbac:groups=peering.simulated-peering.io,resources=peergroups,verbs=get;list;watch
// +kubebuilder:rbac:groups=peering.simulated-peering.io,resources=peergroups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// PeerGroupReconciler reconciles PeerGroups.
type PeerGroupReconciler struct {
	client.Client
	EventRecorder events.EventRecorder
	Metrics       fluxcontroller.Metrics
	Render        render.Options
}

// SetupWithManager watches PeerGroups (on spec changes and reconcile
// requests), the objects they own, and their pods.
func (r *PeerGroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.PeerGroup{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicates.ReconcileRequestedPredicate{}))).
		Owns(&appsv1.ReplicaSet{}).
		Owns(&corev1.Service{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(groupOfPod)).
		Complete(r)
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
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references let the garbage collector clean up
	}
	patcher := patch.NewSerialPatcher(obj, r.Client)
	run := &reconcileRun{obj: obj}
	defer func() {
		retErr = r.summarize(ctx, obj, patcher, run.rolling, retErr)
		r.Metrics.RecordDuration(ctx, obj, start)
	}()
	if v, ok := meta.ReconcileAnnotationValue(obj.GetAnnotations()); ok {
		obj.Status.SetLastHandledReconcileRequest(v)
	}
	for _, step := range []func(context.Context, *reconcileRun) error{
		r.observePods,
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

// reconcileRun is what one reconcile's steps learn and share.
type reconcileRun struct {
	obj *v1alpha1.PeerGroup
	// readyByHash counts ready pods per template hash.
	readyByHash map[string]int32
	// rolling is true while pods of an old template still run.
	rolling bool
}

// summarize sets Ready/Reconciling/Stalled from the outcome and patches the
// status. Events are emitted only when the failure is new, not on retries.
func (r *PeerGroupReconciler) summarize(ctx context.Context, obj *v1alpha1.PeerGroup, patcher *patch.SerialPatcher, rolling bool, err error) error {
	desired := obj.DesiredReplicas()
	progress := fmt.Sprintf("%d/%d pods ready", obj.Status.ReadyReplicas, desired)
	var invalid *invalidError
	switch {
	case errors.As(err, &invalid):
		if !conditions.IsStalled(obj) {
			r.event(obj, corev1.EventTypeWarning, ReasonInvalid, "Reconcile", "%s", err)
		}
		conditions.MarkStalled(obj, ReasonInvalid, "%s", err)
		conditions.MarkFalse(obj, meta.ReadyCondition, ReasonInvalid, "%s", err)
		conditions.Delete(obj, meta.ReconcilingCondition)
		err = reconcile.TerminalError(err) // no retry until the spec changes
	case err != nil:
		if ready := conditions.Get(obj, meta.ReadyCondition); ready == nil || ready.Message != err.Error() {
			r.event(obj, corev1.EventTypeWarning, ReasonFailed, "Reconcile", "%s", err)
		}
		conditions.Delete(obj, meta.StalledCondition)
		conditions.MarkReconciling(obj, ReasonFailed, "%s", err)
		conditions.MarkFalse(obj, meta.ReadyCondition, ReasonFailed, "%s", err)
	case obj.Status.ReadyReplicas < desired || obj.Status.Replicas != desired || rolling:
		conditions.Delete(obj, meta.StalledCondition)
		conditions.MarkReconciling(obj, ReasonProgressing, "%s", progress)
		conditions.MarkFalse(obj, meta.ReadyCondition, ReasonProgressing, "%s", progress)
	default:
		conditions.Delete(obj, meta.StalledCondition)
		conditions.Delete(obj, meta.ReconcilingCondition)
		conditions.MarkTrue(obj, meta.ReadyCondition, ReasonSucceeded, "%s", progress)
	}
	perr := patcher.Patch(ctx, obj,
		patch.WithOwnedConditions{Conditions: []string{meta.ReadyCondition, meta.ReconcilingCondition, meta.StalledCondition}},
		patch.WithStatusObservedGeneration{}, patch.WithFieldOwner(render.ManagedBy))
	r.Metrics.RecordReadiness(ctx, obj)
	r.Metrics.RecordReconciling(ctx, obj)
	r.Metrics.RecordStalled(ctx, obj)
	return errors.Join(err, client.IgnoreNotFound(perr))
}

func (r *PeerGroupReconciler) event(obj *v1alpha1.PeerGroup, eventType, reason, action, note string, args ...any) {
	if r.EventRecorder != nil {
		r.EventRecorder.Eventf(obj, nil, eventType, reason, action, note, args...)
	}
}

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
