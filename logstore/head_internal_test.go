package logstore

import "testing"

// TestHeadIDCollision checks the head's id table, which is keyed by the
// ids' 64-bit hashes: two ids with the same hash are both found, and an id
// whose hash matches another's entry is not reported as that entry.
func TestHeadIDCollision(t *testing.T) {
	leaf := func(id string) []byte { return []byte(`{"action":"a","id":"` + id + `","seq":0}`) }
	h := newHeadSeg(10, nil)
	// "b" is given the hash of "a", as if the two collided.
	h.add(headEntry{leaf: leaf("a"), idh: idHash("a")}, "a")
	h.add(headEntry{leaf: leaf("b"), idh: idHash("a")}, "b")
	for _, tc := range []struct {
		id   string
		want int64
		ok   bool
	}{
		{"a", 10, true},
		{"b", 11, true},
		{"c", 0, false},
	} {
		got, ok := h.seqOf(tc.id)
		if got != tc.want || ok != tc.ok {
			t.Errorf("seqOf(%q) = %d, %v; want %d, %v", tc.id, got, ok, tc.want, tc.ok)
		}
	}

	// An entry found by hash whose leaf holds another id is not a match.
	h = newHeadSeg(0, nil)
	h.add(headEntry{leaf: leaf("b"), idh: idHash("a")}, "b")
	if seq, ok := h.seqOf("a"); ok {
		t.Errorf("seqOf(a) = %d, true; want not found (the entry is b's)", seq)
	}
}
