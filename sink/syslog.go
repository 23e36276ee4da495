package sink

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"time"

	trail "github.com/trail-audit/trail"
)

// Syslog facility of every message: 13, "log audit" (RFC 5424 §6.2.1).
const syslogFacility = 13

// sdID is the SD-ID of trail's structured data element. 32473 is the
// private enterprise number RFC 5612 reserves for documentation.
const sdID = "trail@32473"

// Syslog delivers events as RFC 5424 messages over TCP, or TLS (RFC 5425)
// when the sink has TLS options, framed by octet counting (RFC 6587 §3.4.1:
// "<length> <message>"). One message per event:
//
//	<PRI>1 TIMESTAMP HOSTNAME trail - MSGID [trail@32473 tenant="…" seq="…" id="…"] MSG
//
// PRI is facility 13 (log audit) with the severity mapped from the event's
// (info 6, low 5, medium 4, high 3, critical 2); TIMESTAMP is the event's
// time in UTC with microseconds; MSGID is the action (printable ASCII, at
// most 32 bytes); MSG is the canonical JSON of the event (Format json) or a
// CEF record (Format cef, see AppendCEF).
//
// Syslog has no acknowledgement: a batch counts as delivered when all its
// bytes were written to the connection. Bytes the kernel had buffered when
// a connection breaks can be lost; a broken connection is redialled on the
// next attempt.
type Syslog struct {
	addr     string
	tls      *tls.Config // nil: plain TCP
	cef      bool
	hostname string
	dialer   net.Dialer
	conn     net.Conn
}

// NewSyslog returns the Syslog destination of a normalised syslog sink.
func NewSyslog(s *Sink, env Env) (*Syslog, error) {
	d := &Syslog{addr: s.Address, cef: s.Format == FormatCEF, hostname: s.Hostname}
	if d.hostname == "" {
		d.hostname = env.hostname()
	}
	d.dialer.Timeout = 10 * time.Second
	host, _, _ := net.SplitHostPort(s.Address)
	if err := env.Egress.CheckHost(host); err != nil {
		return nil, trail.FieldError("address", "%v", err)
	}
	d.dialer = *env.Egress.Dialer(d.dialer)
	if s.TLS != nil {
		c, err := s.TLS.config(host)
		if err != nil {
			return nil, err
		}
		d.tls = c
	}
	return d, nil
}

// Deliver implements Destination.
func (d *Syslog) Deliver(ctx context.Context, batch *Batch) error {
	tenant, items := batch.Tenant, batch.Items
	if d.conn == nil {
		var c net.Conn
		var err error
		if d.tls != nil {
			td := tls.Dialer{NetDialer: &d.dialer, Config: d.tls}
			c, err = td.DialContext(ctx, "tcp", d.addr)
		} else {
			c, err = d.dialer.DialContext(ctx, "tcp", d.addr)
		}
		if err != nil {
			return err
		}
		d.conn = c
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	c := d.conn
	c.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	var buf, msg []byte
	for _, it := range items {
		msg = d.appendMessage(msg[:0], tenant, it)
		buf = strconv.AppendInt(buf, int64(len(msg)), 10)
		buf = append(buf, ' ')
		buf = append(buf, msg...)
		if len(buf) >= 64<<10 {
			if err := d.write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		return d.write(buf)
	}
	return nil
}

func (d *Syslog) write(b []byte) error {
	if _, err := d.conn.Write(b); err != nil {
		d.conn.Close()
		d.conn = nil
		return err
	}
	return nil
}

// Close implements Destination.
func (d *Syslog) Close() error {
	if d.conn == nil {
		return nil
	}
	err := d.conn.Close()
	d.conn = nil
	return err
}

// appendMessage appends the RFC 5424 message of one event.
func (d *Syslog) appendMessage(b []byte, tenant string, it Item) []byte {
	e := it.Event
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(syslogFacility*8+syslogSeverity(e.Severity)), 10)
	b = append(b, ">1 "...)
	t := e.Time
	if t.IsZero() {
		t = e.ReceivedAt
	}
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = appendPrintable(b, d.hostname, 255)
	b = append(b, " trail - "...)
	b = appendPrintable(b, e.Action, 32)
	b = append(b, " ["+sdID+" tenant=\""...)
	b = appendSDValue(b, tenant)
	b = append(b, `" seq="`...)
	b = strconv.AppendInt(b, it.Seq, 10)
	b = append(b, `" id="`...)
	b = appendSDValue(b, e.ID)
	b = append(b, `"] `...)
	if d.cef {
		return AppendCEF(b, it)
	}
	return append(b, it.Leaf...)
}

// syslogSeverity maps an event severity to a syslog severity.
func syslogSeverity(s string) int {
	switch s {
	case trail.SeverityCritical:
		return 2
	case trail.SeverityHigh:
		return 3
	case trail.SeverityMedium:
		return 4
	case trail.SeverityLow:
		return 5
	}
	return 6
}

// appendPrintable appends s restricted to PRINTUSASCII (RFC 5424), other
// bytes as "_", at most n bytes; the empty string becomes the NILVALUE "-".
func appendPrintable(b []byte, s string, n int) []byte {
	if s == "" {
		return append(b, '-')
	}
	for i := 0; i < len(s) && i < n; i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// appendSDValue appends s escaped as a PARAM-VALUE (RFC 5424 §6.3.3).
func appendSDValue(b []byte, s string) []byte {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', ']':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return b
}
