package config

import (
	"strings"
	"testing"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// FuzzParsePeers: never panics; every accepted address is valid and unique,
// and there is one per comma-separated field.
func FuzzParsePeers(f *testing.F) {
	for _, s := range []string{"a:1", "10.0.0.1:8080,10.0.0.2:8080", "[::1]:80", " x:9 , y:10 ", "a:1,a:1", ":80", "a:0", "a:b:c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list, err := ParsePeers(s)
		if err != nil {
			return
		}
		if len(list) != strings.Count(s, ",")+1 {
			t.Fatalf("%q gave %d peers", s, len(list))
		}
		seen := map[string]bool{}
		for _, p := range list {
			if err := peers.ValidateAddress(p.Address); err != nil || seen[p.Address] {
				t.Fatalf("%q accepted bad or duplicate %q: %v", s, p.Address, err)
			}
			seen[p.Address] = true
		}
	})
}
