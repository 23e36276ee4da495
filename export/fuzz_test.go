package export_test

import (
	"bytes"
	"testing"

	"github.com/trail-audit/trail/export"
)

// FuzzVerifyBundle checks that VerifyBundle never panics and accepts only
// consistent reports, whatever the archive bytes. The fuzzer spends long
// minimizing interesting inputs of this size; run it with
// -fuzzminimizetime=5s to keep it exploring.
func FuzzVerifyBundle(f *testing.F) {
	l := newTestLog(f, 6, 3)
	good := writeBundle(f, l, l.events[2:5], "")
	f.Add(good)
	files := readZip(f, good)
	f.Add(writeZip(f, files)) // stored entries; easier to mutate
	files[3].data = bytes.Replace(files[3].data, []byte(`"seq":2`), []byte(`"seq":5`), 1)
	f.Add(writeZip(f, files))
	f.Add(writeBundle(f, l, nil, ""))
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, key := range []string{l.vkey, ""} {
			rep, err := export.VerifyBundle(bytes.NewReader(data), int64(len(data)), key)
			if err != nil {
				continue
			}
			if rep.Events < 0 || rep.Erased > rep.Events || (rep.Events == 0) != (rep.FirstSeq == -1) ||
				rep.FirstSeq > rep.LastSeq || rep.LastSeq >= rep.TreeSize || rep.KeyTrusted != (key != "") {
				t.Fatalf("inconsistent report %+v", rep)
			}
		}
	})
}
