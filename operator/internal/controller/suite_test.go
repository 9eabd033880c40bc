package controller_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	fluxcontroller "github.com/fluxcd/pkg/runtime/controller"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/controller"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
	"github.com/simulated-peering/simulated-peering/operator/internal/setup"
	"github.com/simulated-peering/simulated-peering/operator/internal/testenv"
)

var (
	env *testenv.Env
	k8s client.Client
	ctx = context.Background()
)

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start(true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8s = env.Client
	// Steps chain several reconciles, some after a 1 s stale-cache retry; the
	// 1 s default is too tight for two cores running every package under -race.
	SetDefaultEventuallyTimeout(5 * time.Second)
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

var nsCounter atomic.Int32

// namespace creates a fresh namespace for one test.
func namespace(t testing.TB) string {
	name := fmt.Sprintf("test-%d-%d", time.Now().Unix()%100000, nsCounter.Add(1))
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// newGroup creates a PeerGroup with replicas and a 10s interval.
func newGroup(g Gomega, ns, name string, replicas int32, mutate ...func(*v1alpha1.PeerGroup)) *v1alpha1.PeerGroup {
	pg := &v1alpha1.PeerGroup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1alpha1.PeerGroupSpec{Replicas: ptr.To(replicas), PingInterval: &metav1.Duration{Duration: 10 * time.Second}},
	}
	for _, m := range mutate {
		m(pg)
	}
	g.Expect(k8s.Create(ctx, pg)).To(Succeed())
	return pg
}

func getGroup(g Gomega, pg *v1alpha1.PeerGroup) *v1alpha1.PeerGroup {
	out := &v1alpha1.PeerGroup{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pg), out)).To(Succeed())
	return out
}

// updateGroup changes the spec with a merge patch: no resourceVersion, so
// the operator's concurrent status writes cannot make it conflict.
func updateGroup(g Gomega, pg *v1alpha1.PeerGroup, change func(*v1alpha1.PeerGroup)) *v1alpha1.PeerGroup {
	latest := getGroup(g, pg)
	patch := client.MergeFrom(latest.DeepCopy())
	change(latest)
	g.Expect(k8s.Patch(ctx, latest, patch)).To(Succeed())
	return latest
}

// replicaSets lists the group's ReplicaSets.
func replicaSets(g Gomega, pg *v1alpha1.PeerGroup) []appsv1.ReplicaSet {
	var list appsv1.ReplicaSetList
	g.Expect(k8s.List(ctx, &list, client.InNamespace(pg.Namespace), client.MatchingLabels(render.SelectorLabels(pg)))).To(Succeed())
	return list.Items
}

// liveReplicaSets polls the names of the group's ReplicaSets not being deleted.
func liveReplicaSets(g Gomega, pg *v1alpha1.PeerGroup) func() []string {
	return func() []string {
		var names []string
		for _, rs := range replicaSets(g, pg) {
			if rs.DeletionTimestamp == nil {
				names = append(names, rs.Name)
			}
		}
		return names
	}
}

// currentReplicaSet waits for the ReplicaSet of the group's current template.
func currentReplicaSet(g Gomega, pg *v1alpha1.PeerGroup) *appsv1.ReplicaSet {
	want := render.ReplicaSet(getGroup(g, pg), testenv.RenderOptions).Name
	rs := &appsv1.ReplicaSet{}
	g.Eventually(func() error { return k8s.Get(ctx, client.ObjectKey{Namespace: pg.Namespace, Name: want}, rs) }).WithTimeout(10 * time.Second).Should(Succeed())
	return rs
}

var podIP atomic.Int32

// startPods does what the ReplicaSet controller and kubelet would (envtest
// has neither): n pods from rs's template, Running and Ready with an IP.
func startPods(g Gomega, rs *appsv1.ReplicaSet, n int) []*corev1.Pod {
	var pods []*corev1.Pod
	for range n {
		ip := podIP.Add(1)
		pod, err := testenv.ReadyPod(ctx, k8s, rs, "", fmt.Sprintf("10.88.%d.%d", ip/250, ip%250+2))
		g.Expect(err).NotTo(HaveOccurred())
		pods = append(pods, pod)
	}
	return pods
}

// readyCondition returns the group's Ready condition (nil if absent).
func readyCondition(g Gomega, pg *v1alpha1.PeerGroup) *metav1.Condition {
	return conditions.Get(getGroup(g, pg), meta.ReadyCondition)
}

// events lists the Events about the group.
func events(g Gomega, pg *v1alpha1.PeerGroup) []corev1.Event {
	var list corev1.EventList
	g.Expect(k8s.List(ctx, &list, client.InNamespace(pg.Namespace))).To(Succeed())
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "PeerGroup" && e.InvolvedObject.Name == pg.Name {
			out = append(out, e)
		}
	}
	return out
}

func eventReasons(g Gomega, pg *v1alpha1.PeerGroup) func() []string {
	return func() []string {
		var reasons []string
		for _, e := range events(g, pg) {
			reasons = append(reasons, e.Reason)
		}
		return reasons
	}
}

// reconcilerThrough is a reconciler of the test's own (no manager, no event
// recorder) whose API calls go straight to the API server through funcs.
func reconcilerThrough(g Gomega, funcs interceptor.Funcs) *controller.PeerGroupReconciler {
	direct, err := client.NewWithWatch(env.Config, client.Options{Scheme: setup.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	c := interceptor.NewClient(direct, funcs)
	return &controller.PeerGroupReconciler{Client: c, APIReader: c, Render: testenv.RenderOptions, Metrics: fluxcontroller.Metrics{}}
}
