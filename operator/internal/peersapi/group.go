package peersapi

import (
	"context"
	"fmt"
	"net"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
)

// ListMembers reads the group's ReplicaSets (every one carrying its labels,
// whoever controls it) and its member pods from r. Extra options go to both
// lists (the peers API, which only reads, skips the cache's deep copies).
func ListMembers(ctx context.Context, r client.Reader, pg *v1alpha1.PeerGroup, opts ...client.ListOption) ([]appsv1.ReplicaSet, []corev1.Pod, error) {
	selector := append([]client.ListOption{client.InNamespace(pg.Namespace), client.MatchingLabels(render.SelectorLabels(pg))}, opts...)
	var replicaSets appsv1.ReplicaSetList
	if err := r.List(ctx, &replicaSets, selector...); err != nil {
		return nil, nil, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, selector...); err != nil {
		return nil, nil, fmt.Errorf("listing pods: %w", err)
	}
	return replicaSets.Items, Members(pg, replicaSets.Items, pods.Items), nil
}

// Members are the group's pods: those controlled by a ReplicaSet the group
// controls. A pod that merely copies the labels (a debug pod) is not one.
func Members(pg *v1alpha1.PeerGroup, replicaSets []appsv1.ReplicaSet, pods []corev1.Pod) []corev1.Pod {
	ours := map[types.UID]bool{}
	for i := range replicaSets {
		if metav1.IsControlledBy(&replicaSets[i], pg) {
			ours[replicaSets[i].UID] = true
		}
	}
	members := make([]corev1.Pod, 0, len(pods))
	for _, pod := range pods {
		if ref := metav1.GetControllerOf(&pod); ref != nil && ours[ref.UID] {
			members = append(members, pod)
		}
	}
	return members
}

// Address is a pod's ping address if it can be a peer.
func Address(pod *corev1.Pod, defaultPort int32) (string, bool) {
	if pod.Status.PodIP == "" || pod.DeletionTimestamp != nil || !IsReady(pod) {
		return "", false
	}
	port := defaultPort
	for _, c := range pod.Spec.Containers {
		if c.Name != render.ContainerName {
			continue
		}
		for _, p := range c.Ports {
			port = p.ContainerPort
		}
	}
	return net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(port))), true
}

// IsReady reports the pod's Ready condition.
func IsReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
