package sink_test

import (
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/sink"
)

func TestAppendCEFEscaping(t *testing.T) {
	e := &trail.Event{ID: "e1", Tenant: "acme", Action: `a|b\c`, Severity: trail.SeverityHigh, Outcome: trail.OutcomeDenied,
		Time: time.UnixMilli(1767225600123), Actor: trail.Actor{ID: "u=1", Name: "Ann\nB"}, Reason: `x\y`}
	got := string(sink.AppendCEF(nil, sink.Item{Seq: 7, Event: e}))
	want := `CEF:0|trail|trail|1|a\|b\\c|a\|b\\c|8|externalId=e1 rt=1767225600123 act=a|b\\c outcome=denied suser=Ann\nB suid=u\=1 msg=x\\y cs1Label=tenant cs1=acme cn1Label=seq cn1=7`
	if got != want {
		t.Errorf("AppendCEF:\ngot  %s\nwant %s", got, want)
	}
}
