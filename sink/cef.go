package sink

import (
	"strconv"
	"strings"

	trail "github.com/trail-audit/trail"
)

// AppendCEF appends the ArcSight CEF (version 0) record of an event:
//
//	CEF:0|trail|trail|1|<action>|<action>|<severity>|<extension>
//
// Severity is info 1, low 3, medium 5, high 8, critical 10. The extension
// holds externalId (event id), rt (event time, ms since the epoch), act
// (action), outcome, suser and suid (actor name and id), src (source ip),
// requestClientApplication (user agent), requestMethod, request (path),
// msg (reason), cs1 (tenant), cs2 (resource "type/id") and cn1 (seq),
// each custom field with its …Label. Header fields escape \ and |;
// extension values escape \, = and line breaks.
func AppendCEF(b []byte, it Item) []byte {
	e := it.Event
	b = append(b, "CEF:0|trail|trail|1|"...)
	b = appendCEFHeader(b, e.Action)
	b = append(b, '|')
	b = appendCEFHeader(b, e.Action)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(cefSeverity(e.Severity)), 10)
	b = append(b, '|')
	first := true
	ext := func(k, v string) {
		if v == "" {
			return
		}
		if !first {
			b = append(b, ' ')
		}
		first = false
		b = append(b, k...)
		b = append(b, '=')
		b = appendCEFValue(b, v)
	}
	ext("externalId", e.ID)
	if t := e.Time; !t.IsZero() {
		ext("rt", strconv.FormatInt(t.UnixMilli(), 10))
	}
	ext("act", e.Action)
	ext("outcome", e.Outcome)
	ext("suser", e.Actor.Name)
	ext("suid", e.Actor.ID)
	if e.Source != nil {
		ext("src", e.Source.IP)
		ext("requestClientApplication", e.Source.UserAgent)
	}
	if e.Request != nil {
		ext("requestMethod", e.Request.Method)
		ext("request", e.Request.Path)
	}
	ext("msg", e.Reason)
	ext("cs1Label", "tenant")
	ext("cs1", e.Tenant)
	if e.Resource != nil && (e.Resource.Type != "" || e.Resource.ID != "") {
		ext("cs2Label", "resource")
		ext("cs2", e.Resource.Type+"/"+e.Resource.ID)
	}
	ext("cn1Label", "seq")
	ext("cn1", strconv.FormatInt(it.Seq, 10))
	return b
}

func cefSeverity(s string) int {
	switch s {
	case trail.SeverityLow:
		return 3
	case trail.SeverityMedium:
		return 5
	case trail.SeverityHigh:
		return 8
	case trail.SeverityCritical:
		return 10
	}
	return 1
}

var cefHeaderEscaper = strings.NewReplacer(`\`, `\\`, `|`, `\|`, "\r", " ", "\n", " ")
var cefValueEscaper = strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\r\n", `\n`, "\n", `\n`, "\r", `\r`)

func appendCEFHeader(b []byte, s string) []byte {
	return append(b, cefHeaderEscaper.Replace(s)...)
}

func appendCEFValue(b []byte, s string) []byte {
	return append(b, cefValueEscaper.Replace(s)...)
}
