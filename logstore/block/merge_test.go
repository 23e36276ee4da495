package block

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/trail-audit/trail"
)

func mergeBytes(t *testing.T, srcs []*Reader, erase func(int64) bool, opts ...Options) (*Reader, Meta) {
	t.Helper()
	var buf bytes.Buffer
	m, err := Merge(&buf, srcs, erase, append(opts, Options{})[0])
	if err != nil {
		t.Fatalf("merge: %v", err)
	}
	if m.Bytes != int64(buf.Len()) {
		t.Errorf("merge meta bytes: got %d, want %d", m.Bytes, buf.Len())
	}
	return openBytes(t, "merged", buf.Bytes()), m
}

// split writes rows as consecutive blocks of the given sizes.
func split(t *testing.T, rows []row, firstSeq int64, sizes []int, opts Options) []*Reader {
	var srcs []*Reader
	at := 0
	for _, n := range sizes {
		b, _ := writeRows(t, rows[at:at+n], firstSeq+int64(at), opts)
		srcs = append(srcs, openBytes(t, "src", b))
		at += n
	}
	return srcs
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int
	}{
		{"aligned", []int{256, 128, 384}},
		{"irregular", []int{100, 37, 250}},
		{"with empty", []int{0, 50, 0}},
		{"single", []int{77}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total := 0
			for _, n := range tt.sizes {
				total += n
			}
			rows := smallRows(total)
			opts := Options{ChunkRows: 128}
			merged, m := mergeBytes(t, split(t, rows, 1000, tt.sizes, opts), nil)
			checkBlock(t, merged, rows, 1000)

			direct := openBytes(t, "direct", must(writeRows(t, rows, 1000, opts)))
			dm := direct.Meta()
			dm.Bytes = m.Bytes
			if m != dm {
				t.Errorf("meta: got %+v, want %+v", m, dm)
			}
			if tt.name == "aligned" {
				// Same chunk boundaries: every answer is the same.
				for _, f := range direct.Fields() {
					direct.Keys(f, func(k string) bool {
						if got, want := merged.Lookup(f, k), direct.Lookup(f, k); !equalRows(got, want) {
							t.Fatalf("Lookup(%s, %q): got %v, want %v", f, k, got, want)
						}
						return true
					})
				}
				if got, want := merged.Chunks(), direct.Chunks(); !slices.Equal(got, want) {
					t.Errorf("chunks: got %+v, want %+v", got, want)
				}
			}
		})
	}
}

func must(b []byte, _ Meta) []byte { return b }

func TestMergeErase(t *testing.T) {
	rows := smallRows(600)
	terms := map[string][][2]string{}
	for _, r := range rows {
		terms[string(r.data)] = r.terms
	}
	reindex := func(data []byte, add func(field, key string)) {
		for _, tm := range terms[string(data)] {
			add(tm[0], tm[1])
		}
	}
	victim := ""
	for _, tm := range rows[10].terms {
		if tm[0] == trail.FieldActor {
			victim = tm[1]
		}
	}
	// Erase the victim actor's events, every 50th event, and a whole chunk.
	erase := func(seq int64) bool {
		i := int(seq - 1000)
		return slices.Contains(rows[i].terms, [2]string{trail.FieldActor, victim}) || i%50 == 7 || (i >= 256 && i < 320)
	}
	want := slices.Clone(rows)
	var gone []row
	for i := range want {
		if !want[i].erased && erase(int64(1000+i)) {
			gone = append(gone, want[i])
			want[i] = row{time: want[i].time, erased: true}
		}
	}
	// words only the erased rows had
	live := map[string]bool{}
	for _, r := range want {
		for _, tm := range r.terms {
			live[tm[0]+":"+tm[1]] = true
		}
	}
	var goneTerms [][2]string
	for _, g := range gone {
		for _, tm := range g.terms {
			if !live[tm[0]+":"+tm[1]] {
				goneTerms = append(goneTerms, tm)
			}
		}
	}
	if len(goneTerms) == 0 {
		t.Fatal("the erased rows have no terms of their own")
	}

	tests := []struct {
		name string
		opts Options
	}{
		{"unindexed", Options{}},
		{"reindexed", Options{Terms: reindex}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcs := split(t, rows, 1000, []int{200, 256, 144}, Options{ChunkRows: 64})
			merged, m := mergeBytes(t, srcs, erase, tt.opts)
			if m.Erased != len(gone)+120 {
				t.Errorf("got %d erased rows, want %d", m.Erased, len(gone)+120)
			}
			checkBlock(t, merged, want, 1000)

			// Chunks that lost rows are unindexed unless re-indexed.
			for ci, c := range merged.Chunks() {
				lost := false
				for j := c.FirstRow; j < c.FirstRow+c.Rows; j++ {
					lost = lost || (!rows[j].erased && want[j].erased)
				}
				if wantFlag := lost && tt.opts.Terms == nil; c.Unindexed != wantFlag {
					t.Errorf("chunk %d: got unindexed %v, want %v", ci, c.Unindexed, wantFlag)
				}
				if c.FirstRow == 256 && (c.Erased != c.Rows || c.Bytes != 0) {
					t.Errorf("chunk %d: got %d of %d rows erased in %d bytes, want all erased in 0 bytes", ci, c.Erased, c.Rows, c.Bytes)
				}
			}
			// The erased content cannot be found through the index.
			for _, tm := range goneTerms {
				merged.Keys(tm[0], func(k string) bool {
					if k == tm[1] {
						t.Fatalf("Keys(%s) lists %q of an erased row", tm[0], k)
					}
					return true
				})
				if ChunkLevel(tm[0]) && tt.opts.Terms == nil {
					continue // matches the unindexed chunks, whatever the word
				}
				if got := merged.Lookup(tm[0], tm[1]); len(got) != 0 {
					t.Fatalf("Lookup(%s, %q) of an erased row: got %v, want none", tm[0], tm[1], got)
				}
			}

			// Merging again keeps the erasures and erases nothing more.
			again, _ := mergeBytes(t, []*Reader{merged}, func(int64) bool { return false })
			checkBlock(t, again, want, 1000)
		})
	}
}

func TestMergeErrors(t *testing.T) {
	rows := smallRows(20)
	a := openBytes(t, "a", must(writeRows(t, rows[:10], 0, Options{})))
	b := openBytes(t, "b", must(writeRows(t, rows[10:], 10, Options{})))
	var other bytes.Buffer
	w := NewWriter(&other, "globex", 10, Options{})
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c := openBytes(t, "c", other.Bytes())
	tests := []struct {
		name string
		srcs []*Reader
		want string
	}{
		{"none", nil, "no blocks"},
		{"gap", []*Reader{b, a}, "starts at seq"},
		{"tenant", []*Reader{a, c}, "tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Merge(new(bytes.Buffer), tt.srcs, nil, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
