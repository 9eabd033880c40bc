package health

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Rollouts and scale-ups never count against the mesh.
func TestWhichPodsCount(t *testing.T) {
	const interval = 10 * time.Second
	now := t0.Add(time.Hour)
	pod := func(ip string, ready corev1.ConditionStatus, since time.Time, deleting bool) *corev1.Pod {
		p := &corev1.Pod{Status: corev1.PodStatus{PodIP: ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.NewTime(since)}}}}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{Time: now}
		}
		return p
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"Ready for an interval", pod("10.88.0.2", corev1.ConditionTrue, now.Add(-interval), false), true},
		{"Ready for less than an interval: its pingers have not pinged it yet", pod("10.88.0.2", corev1.ConditionTrue, now.Add(-interval+time.Second), false), false},
		{"not Ready", pod("10.88.0.2", corev1.ConditionFalse, now.Add(-time.Hour), false), false},
		{"terminating", pod("10.88.0.2", corev1.ConditionTrue, now.Add(-time.Hour), true), false},
		{"no address", pod("", corev1.ConditionTrue, now.Add(-time.Hour), false), false},
		{"no Ready condition", &corev1.Pod{Status: corev1.PodStatus{PodIP: "10.88.0.2"}}, false},
	} {
		if got := counts(tc.pod, interval, now); got != tc.want {
			t.Errorf("%s: counts = %v, want %v", tc.name, got, tc.want)
		}
	}
}
