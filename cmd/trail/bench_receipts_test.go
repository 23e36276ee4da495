package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// receiptAnswer is an ingest answer in the form the server writes (see
// api/encode.go writeIngest): one plain receipt, one duplicate with an
// inclusion proof.
const receiptAnswer = `{"receipts":[{"id":"01JDX4M3K2","seq":7,"tenant":"t0001","leaf_hash":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},` +
	`{"id":"01JDX4M3K3","seq":8,"tenant":"t0001","leaf_hash":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","duplicate":true,` +
	`"inclusion":{"leaf_index":8,"tree_size":9,"hashes":["AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","HwECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]}}],` +
	`"checkpoints":{"t0001":"bench.trail/t0001\n9\nq80=\n\n— bench.trail abc=\n"}}` + "\n"

// TestParseReceipts checks that the server's form takes the fast path with
// encoding/json's result, and that other forms still decode.
func TestParseReceipts(t *testing.T) {
	var want ingestAnswer
	if err := json.Unmarshal([]byte(receiptAnswer), &want); err != nil {
		t.Fatal(err)
	}
	got, ok := parseReceipts([]byte(receiptAnswer))
	if !ok {
		t.Fatal("parseReceipts does not accept the server's form")
	}
	if !reflect.DeepEqual(got, want.Receipts) {
		t.Fatalf("parseReceipts = %+v, want %+v", got, want.Receipts)
	}
	// Reordered keys and escapes: encoding/json's path.
	other := strings.Replace(receiptAnswer, `{"id":"01JDX4M3K2","seq":7`, `{"seq":7,"id":"01JDX4M3K\u0032"`, 1)
	if _, ok := parseReceipts([]byte(other)); ok {
		t.Error("parseReceipts accepted keys out of order")
	}
	rs, err := decodeReceipts([]byte(other))
	if err != nil || !reflect.DeepEqual(rs, want.Receipts) {
		t.Errorf("decodeReceipts(reordered) = %+v, %v; want %+v", rs, err, want.Receipts)
	}
	if _, err := decodeReceipts([]byte(`{"receipts":[{"seq":"x"}]}`)); err == nil {
		t.Error("decodeReceipts accepted a string seq")
	}
}

// FuzzParseReceipts checks that whatever parseReceipts accepts,
// encoding/json decodes to the same receipts.
func FuzzParseReceipts(f *testing.F) {
	f.Add([]byte(receiptAnswer))
	f.Add([]byte(`{"receipts":[],"checkpoints":{}}`))
	f.Add([]byte(`{"receipts":[{"id":"a","seq":-0,"tenant":"b","leaf_hash":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","inclusion":{"leaf_index":0,"tree_size":1,"hashes":[]}}],"checkpoints":{}} `))
	f.Add([]byte(`{"receipts":[{"id":"a","seq":01,"tenant":"b","leaf_hash":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}],"checkpoints":{"a":1}}`))
	f.Add([]byte(`{"receipts":[{"id":"a","seq":1e3,"tenant":"b","leaf_hash":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}],"checkpoints":{"a":1,}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := parseReceipts(body)
		if !ok {
			return
		}
		var want ingestAnswer
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&want); err != nil {
			t.Fatalf("parseReceipts accepted %q, encoding/json: %v", body, err)
		}
		if !reflect.DeepEqual(got, want.Receipts) {
			t.Fatalf("parseReceipts(%q) = %+v, encoding/json %+v", body, got, want.Receipts)
		}
	})
}

// BenchmarkDecodeReceipts decodes a 1000-receipt answer with proofs of
// 17 hashes each (a tree of about 100,000 leaves), as the ?receipt=proof
// phase of the bench does.
func BenchmarkDecodeReceipts(b *testing.B) {
	const h = `"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="`
	one := `{"id":"01JDX4M3K3","seq":99999,"tenant":"t0001","leaf_hash":` + h +
		`,"inclusion":{"leaf_index":99999,"tree_size":100000,"hashes":[` + strings.TrimSuffix(strings.Repeat(h+",", 17), ",") + `]}}`
	body := []byte(`{"receipts":[` + strings.TrimSuffix(strings.Repeat(one+",", 1000), ",") + receiptAnswer[strings.Index(receiptAnswer, `],"checkpoints"`):])
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if rs, err := decodeReceipts(body); err != nil || len(rs) != 1000 {
				b.Fatal(len(rs), err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var out ingestAnswer
			if err := json.NewDecoder(bytes.NewReader(body)).Decode(&out); err != nil || len(out.Receipts) != 1000 {
				b.Fatal(err)
			}
		}
	})
}
