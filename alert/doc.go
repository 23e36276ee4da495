// Package alert evaluates per-tenant alert rules on the committed log
// (DESIGN.md §8) and records each firing as a trail.alert.fired event in
// the tenant's own log.
//
// # Model
//
// An Engine follows one tenant's log as every other reader does (DESIGN.md
// §3): Store.Read from a durable cursor, Store.Wait when caught up. It
// evaluates every Rule on every committed event in seq order, except
// erased events and events whose action starts with "trail.alert." (its
// own output never triggers rules). A Manager runs one Engine per tenant
// and opens engines on demand for the API.
//
// # Rules
//
// A rule has a q-language filter (package query), an optional group_by (an
// indexed field, an alias such as source.ip, or metadata.<path>; events
// without a value for it are skipped) and a kind:
//
//   - threshold: fires when Threshold matching events of one group key
//     have event times within one sliding window (x-window, x]: two events
//     exactly one window apart are not in the same window. Events counted
//     in a firing are consumed and never count towards another firing.
//   - spike: event time is cut into buckets of one window aligned on the
//     Unix epoch; it fires when the current bucket of a key holds at least
//     Threshold events and at least Factor × the average per bucket over
//     the Baseline buckets before it, once per bucket. A key fires only
//     after a full baseline of history (no firing on a new tenant).
//   - new_value: fires when Field takes a value never seen for the group
//     key. Values seen in the first Window of event time after the rule
//     first matched are learnt silently (Window 0: no learning).
//   - absence: fires once per silence when no matching event of a key has
//     been seen for Window, by the injected clock (Config.Now) against the
//     event time of the key's last event. Without group_by the silence
//     counts from when the rule started watching; with group_by only keys
//     seen once are watched, and a key silent for 10 windows after firing
//     is forgotten. Absence is evaluated by Tick, only while the engine is
//     caught up with the log, so a backlog is never mistaken for silence.
//
// Cooldown and dedup are per (rule, group key): after a firing at time x
// the key does not fire again before x+Cooldown (event time; clock time for
// absence). Cooldown defaults to the window (0 for new_value, where each
// value fires once anyway). DefaultRules lists the rules of a new tenant.
//
// # Event time and out-of-order events
//
// Windows use the event's time, except that a time more than Lateness
// (default 1m) after its received_at is replaced by received_at, so a
// client clock in the future cannot freeze the windows. The watermark is
// the latest such time seen. An event more than Lateness behind the
// watermark is late: threshold and spike rules ignore it (Stats.Late
// counts them); new_value and absence still use it. An event within the
// lateness is placed at its time, and every window it completes is
// checked, so arrival order within the lateness does not change what
// fires.
//
// # Firing
//
// The firings of a batch are appended in one Store.Append as
//
//	{"id":"alrt_<32 hex>","action":"trail.alert.fired","severity":<rule's>,
//	 "actor":{"id":"trail","type":"system"},
//	 "metadata":{"rule_id","rule_name","kind","group","count","window",
//	  "first_seq","last_seq"[,"value"]}}
//
// then added to the alert list (status open, see Alert) and passed to the
// Notifier. The event id is a hash of what decided the firing (tenant,
// rule, group, the seqs involved), so evaluating the same events again
// yields the same id and the store keeps the first copy only.
//
// # Cost per event
//
// Every committed event of the tenant passes through its engine, so the
// engine decodes only what its rules can use. From the enabled rules it
// derives a condition on the stored leaf bytes (package
// internal/leafmatch: the quoted value of an exact or prefix term, the
// words of a text term, combined through AND and OR); an event whose
// leaf fails it cannot match any rule that needs the event's content,
// and only its action and times are decoded (trail.SummarizeEvent): it
// moves the watermark, and the rules that need nothing but the time (no
// filter, no group_by, such as the default ingest spike) count it. The
// result is the same as decoding every event (TestLeafPrefilterAgrees);
// under the default rules about 6 % of generated events are decoded
// (BenchmarkDefaultRulesPerEvent). Run reads a batch of up to BatchSize
// records per Step; when the log grows by fewer than 64 events after it
// caught up, it lets new commits gather for Config.Gather (25ms) before
// reading, so that a
// tenant written one event per commit is not read, ticked and waited on
// once per event (TestRunGathersCommits).
//
// # Durability and restarts
//
// The whole state (cursor, watermark, rules, windows, baselines, seen-sets,
// cooldowns, alert list) is one JSON blob per tenant in a StateStore
// (FileState: atomic replace; MemoryState). It is saved after every batch
// that fired, after the firings are durable, and otherwise at least every
// SaveEvery (1m), on rule and status changes, and when Run returns; a
// blob equal to the last one saved is not written again. The seen-sets of
// new_value are persisted with the cursor, not rebuilt.
//
// Evaluation is deterministic in the events and the saved state, so a
// restart from an older save re-reads the events after its cursor and
// rebuilds exactly the state it lost: nothing is missed. A crash after the
// append and before the save re-fires the same alerts with the same ids:
// the log holds each trail.alert.fired event once, the alert list once,
// but the Notifier may see an alert twice (at-least-once for sinks; sinks
// dedup by Alert.ID). If Append fails, the engine goes back to its last
// save and evaluates again.
//
// # Memory
//
// Per rule at most MaxKeys (10000) group keys. Threshold keys hold at most
// 2×Threshold+64 event times, spike keys Baseline/Window+1 counters,
// new_value keys at most MaxValues (1000) values (the least recently seen
// is forgotten, and fires again if it comes back). Idle threshold and spike
// keys (out of every window and out of cooldown) are evicted; when a rule
// holds MaxKeys keys and none is idle, new keys are not evaluated (a
// new_value rule forgets its least recently seen key instead): Stats.Capped
// counts the events skipped and a warning is logged.
//
// # Wiring
//
// cmd/trail builds one Manager with the store, a FileState under the data
// directory and a Notifier that enqueues to the sinks, and runs it:
//
//	m := alert.NewManager(alert.Config{Store: st, State: &alert.FileState{Dir: filepath.Join(dir, "alerts")},
//		Notifier: sinks, Logger: log}, 0)
//	go m.Run(ctx)
//
// The API handlers call m.Engine(ctx, tenant) and then:
//
//	POST   /v1/alert-rules          ParseRule(body), Engine.PutRule → 201 the rule
//	GET    /v1/alert-rules          Engine.Rules
//	GET    /v1/alert-rules/{id}     Engine.Rule
//	PUT    /v1/alert-rules/{id}     ParseRule(body) with ID = {id}, Engine.PutRule
//	DELETE /v1/alert-rules/{id}     Engine.DeleteRule
//	GET    /v1/alerts?status=open   Engine.Alerts(status)
//	POST   /v1/alerts/{id}/acknowledge, /resolve   Engine.Acknowledge, Engine.Resolve
//
// Errors are *trail.Error: EINVALID with Field for rules, ENOTFOUND,
// ECONFLICT (acknowledging a resolved alert), ETOOLARGE (over 200 rules).
package alert
