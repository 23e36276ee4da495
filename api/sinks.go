package api

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/sink"
)

// sinkView is a sink as the API shows it: its configuration with secrets
// hidden (the webhook secret is shown once, on creation) and its status.
type sinkView struct {
	*sink.Sink
	Status *sink.Status `json:"status,omitempty"`
}

type sinkList struct {
	Sinks []sinkView `json:"sinks"`
}

func (s *Server) sinkTenant(r *http.Request, p *auth.Principal) (string, error) {
	return readTenant(r, p, auth.PermSettings)
}

// findSink returns the request's tenant and that tenant's sink with the
// path's id; another tenant's sink is not found.
func (s *Server) findSink(r *http.Request, p *auth.Principal) (string, sink.Sink, error) {
	tenant, err := s.sinkTenant(r, p)
	if err != nil {
		return "", sink.Sink{}, err
	}
	id := r.PathValue("id")
	all, err := s.cfg.SinkConfigs.List()
	if err != nil {
		return "", sink.Sink{}, err
	}
	for _, x := range all {
		if x.ID == id && x.Tenant == tenant {
			return tenant, x, nil
		}
	}
	return "", sink.Sink{}, trail.Errorf(trail.ENOTFOUND, "sink %s not found", id)
}

func (s *Server) view(x sink.Sink) sinkView {
	v := sinkView{Sink: x.Redacted()}
	if r, ok := s.cfg.Sinks.Runner(x.ID); ok {
		st := r.Status()
		v.Status = &st
	}
	return v
}

func (s *Server) listSinks(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, err := s.sinkTenant(r, p)
	if err != nil {
		return err
	}
	all, err := s.cfg.SinkConfigs.List()
	if err != nil {
		return err
	}
	out := sinkList{Sinks: []sinkView{}}
	for _, x := range all {
		if x.Tenant == tenant {
			out.Sinks = append(out.Sinks, s.view(x))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getSink(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	_, x, err := s.findSink(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.view(x))
	return nil
}

// createSink stores and starts a sink. A webhook gets a signing secret
// when it brings none; the response shows it once.
func (s *Server) createSink(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, err := s.sinkTenant(r, p)
	if err != nil {
		return err
	}
	var in sink.Sink
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if in.ID != "" {
		return trail.FieldError("id", "assigned by the server")
	}
	if in.Tenant != "" && in.Tenant != tenant {
		return trail.FieldError("tenant", "must be %s", tenant)
	}
	in.Tenant = tenant
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	in.ID = "snk_" + hex.EncodeToString(b[:])
	if err := prepareSink(&in, ""); err != nil {
		return err
	}
	if err := s.cfg.SinkConfigs.Put(in); err != nil {
		return err
	}
	if err := s.cfg.Sinks.Start(in); err != nil {
		s.cfg.SinkConfigs.Delete(in.ID)
		return err
	}
	if err := s.audit.recordSync(tenant, r, p, "trail.sink.created", map[string]any{"sink_id": in.ID, "name": in.Name, "type": string(in.Type)}); err != nil {
		return err
	}
	v := s.view(in)
	if in.Type == sink.TypeWebhook {
		v.Sink.Secret = in.Secret // shown once
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// replaceSink replaces a sink's configuration, keeping its id, tenant and
// cursor (a webhook keeps its secret unless the body brings one), and
// restarts it.
func (s *Server) replaceSink(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, old, err := s.findSink(r, p)
	if err != nil {
		return err
	}
	var in sink.Sink
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if in.ID != "" && in.ID != old.ID {
		return trail.FieldError("id", "cannot change")
	}
	if in.Tenant != "" && in.Tenant != tenant {
		return trail.FieldError("tenant", "cannot change")
	}
	in.ID, in.Tenant = old.ID, tenant
	kept := ""
	if old.Type == sink.TypeWebhook {
		kept = old.Secret
	}
	if err := prepareSink(&in, kept); err != nil {
		return err
	}
	if err := s.cfg.Sinks.Start(in); err != nil {
		return err
	}
	if err := s.cfg.SinkConfigs.Put(in); err != nil {
		return err
	}
	if err := s.audit.recordSync(tenant, r, p, "trail.sink.updated", map[string]any{"sink_id": in.ID, "name": in.Name, "type": string(in.Type)}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.view(in))
	return nil
}

// prepareSink gives a webhook without a secret the kept one or a new one,
// and validates the sink.
func prepareSink(in *sink.Sink, kept string) error {
	if in.Type == sink.TypeWebhook && in.Secret == "" {
		in.Secret = kept
		if in.Secret == "" {
			var err error
			if in.Secret, err = sink.NewSecret(rand.Reader); err != nil {
				return err
			}
		}
	}
	return in.Normalize()
}

func (s *Server) deleteSink(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, x, err := s.findSink(r, p)
	if err != nil {
		return err
	}
	if err := s.cfg.Sinks.Remove(r.Context(), x.ID); err != nil {
		return err
	}
	if err := s.cfg.SinkConfigs.Delete(x.ID); err != nil {
		return err
	}
	if err := s.audit.recordSync(tenant, r, p, "trail.sink.deleted", map[string]any{"sink_id": x.ID, "name": x.Name}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sinkView{Sink: x.Redacted()})
	return nil
}

// sinkAction pauses, resumes or replays a sink (replay: {"seq": n} moves
// its cursor back to n).
func (s *Server) sinkAction(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, x, err := s.findSink(r, p)
	if err != nil {
		return err
	}
	run, ok := s.cfg.Sinks.Runner(x.ID)
	if !ok {
		return trail.Errorf(trail.EUNAVAILABLE, "sink %s is not running", x.ID)
	}
	action := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	meta := map[string]any{"sink_id": x.ID}
	switch action {
	case "pause", "resume":
		x.Paused = action == "pause"
		if err := s.cfg.SinkConfigs.Put(x); err != nil {
			return err
		}
		if x.Paused {
			run.Pause()
		} else {
			run.Resume()
		}
	case "replay":
		var in struct {
			Seq *int64 `json:"seq"`
		}
		if err := decodeBody(r, &in); err != nil {
			return err
		}
		if in.Seq == nil {
			return trail.FieldError("seq", "required: the seq to deliver again from")
		}
		if err := run.Replay(r.Context(), *in.Seq); err != nil {
			return err
		}
		meta["seq"] = float64(*in.Seq)
	default:
		return trail.Errorf(trail.ENOTFOUND, "no sink action %q (pause, resume, replay)", action)
	}
	done := map[string]string{"pause": "paused", "resume": "resumed", "replay": "replayed"}[action]
	if err := s.audit.recordSync(tenant, r, p, "trail.sink."+done, meta); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.view(x))
	return nil
}

// memSinkConfigs is sink.Configs in memory, for servers configured without
// persistence.
type memSinkConfigs struct {
	mu    sync.Mutex
	sinks map[string]sink.Sink
}

func (m *memSinkConfigs) List() ([]sink.Sink, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]sink.Sink, 0, len(m.sinks))
	for _, x := range m.sinks {
		out = append(out, x)
	}
	return out, nil
}

func (m *memSinkConfigs) Put(x sink.Sink) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sinks == nil {
		m.sinks = map[string]sink.Sink{}
	}
	m.sinks[x.ID] = x
	return nil
}

func (m *memSinkConfigs) Delete(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sinks, id)
	return nil
}
