package render

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

func intstrName(name string) intstr.IntOrString { return intstr.FromString(name) }

// ReplicaSet runs the group's current pod template. Its name carries the
// template hash, so a template change makes a new ReplicaSet (and new pods)
// while everything else (replicas) is changed in place.
func ReplicaSet(pg *v1alpha1.PeerGroup, opts Options) *appsv1.ReplicaSet {
	template := PodTemplate(pg, opts)
	hash := TemplateHash(template)
	template.Labels[LabelTemplateHash] = hash
	selector := SelectorLabels(pg)
	selector[LabelTemplateHash] = hash
	rs := &appsv1.ReplicaSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: objectMeta(pg, pg.Name+"-"+hash),
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(pg.DesiredReplicas()),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: template,
		},
	}
	rs.Labels[LabelTemplateHash] = hash
	return rs
}

// ServiceAccountName is the group's own ServiceAccount: its pods' projected
// tokens name it, and it has no role bindings.
func ServiceAccountName(pg *v1alpha1.PeerGroup) string { return pg.Name + "-peering" }

// ServiceAccount gives the group's pods an identity of their own, with no
// permissions and no API token mounted.
func ServiceAccount(pg *v1alpha1.PeerGroup) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   objectMeta(pg, ServiceAccountName(pg)),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// Service is headless: it gives each pod a DNS name; peers come from the
// peers API, not from DNS.
func Service(pg *v1alpha1.PeerGroup) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(pg, pg.Name),
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  SelectorLabels(pg),
			Ports: []corev1.ServicePort{{
				Name: portName, Port: pg.ServerPort(), TargetPort: intstrName(portName), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// NetworkPolicy lets the server port be reached only by the group's own pods
// and by metrics scrapers, and lets servers reach only each other, the peers
// API and DNS.
func NetworkPolicy(pg *v1alpha1.PeerGroup, opts Options) *networkingv1.NetworkPolicy {
	group := &metav1.LabelSelector{MatchLabels: SelectorLabels(pg)}
	tcp, udp := ptr.To(corev1.ProtocolTCP), ptr.To(corev1.ProtocolUDP)
	// The named port: during a port change old and new pods each declare
	// their own, so neither is cut off for the length of the roll.
	serverPort := []networkingv1.NetworkPolicyPort{{Protocol: tcp, Port: ptr.To(intstrName(portName))}}
	// A policy sees a DNS packet's port after the Service has translated
	// it: 53, or whatever the DNS pods listen on, which their named ports
	// dns and dns-tcp say (CoreDNS's manifests name them so; the local
	// cluster's CoreDNS, not root, listens on 1053).
	dns := []networkingv1.NetworkPolicyPort{
		{Protocol: udp, Port: ptr.To(intstr.FromInt32(53))}, {Protocol: tcp, Port: ptr.To(intstr.FromInt32(53))},
		{Protocol: udp, Port: ptr.To(intstrName("dns"))}, {Protocol: tcp, Port: ptr.To(intstrName("dns-tcp"))},
	}
	operator := networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": opts.OperatorNamespace}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: opts.OperatorLabels},
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(pg, pg.Name),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *group,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: group}}, Ports: serverPort},
				{From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{LabelMetricsScraper: "true"}},
				}}, Ports: serverPort},
				// The operator fetches /links from every pod once per interval.
				{From: []networkingv1.NetworkPolicyPeer{operator}, Ports: serverPort},
			},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{{PodSelector: group}}, Ports: serverPort},
				{To: []networkingv1.NetworkPolicyPeer{operator}, Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp, Port: ptr.To(intstr.FromInt32(opts.PeersAPIPort))}}},
				{To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
				}}, Ports: dns},
			},
		},
	}
}
