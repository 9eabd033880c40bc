package peers

import (
	"encoding/json"
	"slices"
	"testing"
)

// FuzzDecode: Decode never panics, and whatever it accepts is valid and
// survives a round trip through JSON unchanged.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(validDoc))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"group":"n/g","revision":"r","pingInterval":"1s","pingTimeout":"100ms","peers":null}`))
	f.Add([]byte(`{"group":"n/g","revision":"r","order":7,"pingInterval":"1h","pingTimeout":"1s","peers":[{"name":"a","address":"[::1]:1","node":"n1"}]}`))
	f.Add([]byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Decode(data)
		if err != nil {
			return
		}
		if err := doc.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid document: %v", err)
		}
		// What the server will act on stays within the CRD's bounds.
		if doc.PingInterval.Duration < MinInterval || doc.PingTimeout.Duration < MinTimeout || len(doc.Peers) > MaxPeers {
			t.Fatalf("Decode accepted a document out of bounds: %+v", doc)
		}
		again, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		doc2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if doc2.Revision != doc.Revision || doc2.Order != doc.Order || doc2.PingInterval != doc.PingInterval || !slices.Equal(doc2.Peers, doc.Peers) {
			t.Fatalf("round trip changed %+v into %+v", doc, doc2)
		}
	})
}
