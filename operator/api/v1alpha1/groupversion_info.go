// Package v1alpha1 is the PeerGroup API.
// +kubebuilder:object:generate=true
// +groupName=peering.simulated-peering.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of PeerGroup.
	GroupVersion = schema.GroupVersion{Group: "peering.simulated-peering.io", Version: "v1alpha1"}
	// SchemeBuilder registers the types of this package.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}
	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
