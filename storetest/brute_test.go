package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/trail-audit/trail"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TestBruteForce checks the reference evaluator on hand-made events with
// known answers.
func TestBruteForce(t *testing.T) {
	at := func(h int) time.Time { return epoch.Add(time.Duration(h) * time.Hour) }
	events := []stored{
		{Seq: 0, Event: &trail.Event{Seq: 0, Time: at(0), Action: "user.login", Outcome: "success", Actor: trail.Actor{ID: "u_1"},
			Source: &trail.Source{IP: "10.1.2.3"}, Reason: "Scheduled key rotation", Metadata: map[string]any{"plan": "pro", "count": 3.0}}},
		{Seq: 1, Event: &trail.Event{Seq: 1, Time: at(1), Action: "user.logout", Outcome: "failure", Actor: trail.Actor{ID: "u_2"},
			Source: &trail.Source{IP: "2001:db8:a:1::5"}, Metadata: map[string]any{"client": map[string]any{"os": "linux"}}}},
		{Seq: 2, ReceivedAt: at(2)}, // erased: listed by receipt time without a filter only
		{Seq: 3, Event: &trail.Event{Seq: 3, Time: at(3), Action: "route.update", Outcome: "success", Actor: trail.Actor{ID: "u_1"},
			Source: &trail.Source{IP: "10.2.0.1"}, Reason: "requested by the security team"}},
	}
	T, P := trail.Term, trail.PrefixTerm
	cases := []struct {
		name     string
		filter   *trail.Expr
		from, to time.Time
		want     []int64 // ascending
	}{
		{name: "All", want: []int64{0, 1, 2, 3}},
		{name: "Actor", filter: T(trail.FieldActor, "u_1"), want: []int64{0, 3}},
		{name: "ActionPrefix", filter: P(trail.FieldAction, "user."), want: []int64{0, 1}},
		{name: "IPv4/16", filter: T(trail.FieldIP, "10.1.0.0/16"), want: []int64{0}},
		{name: "IPv6/48", filter: T(trail.FieldIP, "2001:db8:a::/48"), want: []int64{1}},
		{name: "MetadataNumber", filter: T("metadata.count", "3"), want: []int64{0}},
		{name: "MetadataNested", filter: T("metadata.client.os", "linux"), want: []int64{1}},
		{name: "TextCase", filter: T(trail.FieldText, "ROTATION"), want: []int64{0}},
		{name: "TextPhrase", filter: T(trail.FieldText, "security team"), want: []int64{3}},
		{name: "TextPhraseWrongOrder", filter: T(trail.FieldText, "team security"), want: nil},
		{name: "Not", filter: trail.Not(T(trail.FieldOutcome, "success")), want: []int64{1}},
		{name: "TimeRange", from: at(1), to: at(3), want: []int64{1, 2}},
		{name: "TimeFromInclusive", from: at(3), want: []int64{3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := trail.Query{Filter: tc.filter, From: tc.from, To: tc.to, Order: trail.OrderAsc}
			got, err := bruteForce(events, &q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("asc: got %v, want %v", got, tc.want)
			}
			q.Order = trail.OrderDesc
			got, _ = bruteForce(events, &q)
			want := slices.Clone(tc.want)
			slices.Reverse(want)
			if !slices.Equal(got, want) {
				t.Errorf("desc: got %v, want %v", got, want)
			}
		})
	}
	if _, err := bruteForce(events, &trail.Query{Filter: T("colour", "red")}); err == nil {
		t.Error("unknown field: got no error")
	}
}

func TestTreeRoot(t *testing.T) {
	// RFC 6962 test vectors from github.com/transparency-dev/merkle: the
	// root of the empty tree and of the leaves "" and "\x00".
	if got := treeRoot(nil).String(); got != "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" {
		t.Errorf("empty root %s", got)
	}
	l0, l1 := trail.Hash(leafHash(nil)), trail.Hash(leafHash([]byte{0}))
	if got := l0.String(); got != "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=" {
		t.Errorf("leaf hash of the empty leaf: %s", got)
	}
	if got, want := treeRoot([]trail.Hash{l0, l1}), sha256Node(l0, l1); got != want {
		t.Errorf("two-leaf root %v, want %v", got, want)
	}
	// A root of 3 leaves is node(node(0,1), 2).
	l2 := trail.Hash(leafHash([]byte{0x10}))
	if got, want := treeRoot([]trail.Hash{l0, l1, l2}), sha256Node(sha256Node(l0, l1), l2); got != want {
		t.Errorf("three-leaf root %v, want %v", got, want)
	}
}

func sha256Node(l, r trail.Hash) trail.Hash {
	return trail.Hash(rfc6962.DefaultHasher.HashChildren(l[:], r[:]))
}
