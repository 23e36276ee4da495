-- The single-backend layout experiment of docs/design/pgstore.md, stop 24.
--
-- It writes the events of one trail bench run again, in one INSERT … SELECT
-- per candidate layout, so that each layout's server-side cost per event can
-- be compared in one backend on the same data. Load a schema to read from
-- first, and keep it:
--
--   trail bench --store postgres --postgres DSN --queries 5 --verify=false \
--     --single-events 100 --proof-fraction 0.01 --baseline=false \
--     --schema proto1 --data /tmp/keep1
--   psql DSN -f docs/design/pgstore-layout-experiment.sql
--   psql DSN -c 'DROP SCHEMA proto1 CASCADE'   # and rm -rf /tmp/keep1
--
-- Each INSERT's "Time:" is that layout's cost. The sources are temporary
-- copies made first, so that reading trail's tables is not timed. Caveat:
-- psrc.data arrives compressed from its temporary table, and PostgreSQL
-- stores an already compressed value as it is, so p1 and p2 write
-- compressed packs without paying for the compression.
\timing on
set search_path=proto1;
set max_parallel_workers_per_gather=0;
select count(*) from trail_events;
create temp table src as select e.*, convert_from(e.data,'UTF8') as body from trail_events e;
create temp table wsrc as select * from trail_words;
create temp table psrc as select w.tenant, w.first_seq, w.last_seq, (select max(received_at) from trail_events e where e.tenant=w.tenant and e.seq between w.first_seq and w.last_seq) received_at,
  (select string_agg(data, ''::bytea order by seq) from trail_events e where e.tenant=w.tenant and e.seq between w.first_seq and w.last_seq) data,
  w.words, w.slices from trail_words w;
create temp table isrc as select * from trail_ids;
-- E0 baseline-like
create table b0 (tenant text, seq bigint, id text, time timestamptz, action text, outcome text, actor_id text, ip inet, body jsonb, PRIMARY KEY (tenant, seq));
create index on b0 (tenant, actor_id, seq DESC); create index on b0 (tenant, action, outcome, seq DESC); create index on b0 (tenant, ip, seq DESC); create index on b0 (tenant, time);
checkpoint;
insert into b0 select tenant, seq, id, time, action, outcome, actor_id, source_ip, body::jsonb from src;
-- E1 trail_events-like
create table e1 (like trail_events including all);
checkpoint;
insert into e1 select tenant,seq,received_at,time,id,action,outcome,severity,actor_id,resource_type,resource_id,source_ip,request_id,data from src;
-- E3 words
create table w1 (like trail_words including all);
checkpoint;
insert into w1 select * from wsrc;
-- E4 ids
create table i1 (like trail_ids including all);
checkpoint;
insert into i1 select * from isrc;
-- E2 packs (data external), words + gin
create table p1 (tenant text collate "C" not null, first_seq bigint not null, last_seq bigint not null, received_at timestamptz not null, data bytea not null, words text[] not null, slices bytea, primary key (tenant, first_seq));
alter table p1 alter column data set storage external; alter table p1 alter column slices set storage external;
create index on p1 using gin (words) with (gin_pending_list_limit=256);
checkpoint;
insert into p1 select * from psrc;
-- E2b packs without words gin
create table p2 (tenant text collate "C" not null, first_seq bigint not null, last_seq bigint not null, received_at timestamptz not null, data bytea not null, primary key (tenant, first_seq));
alter table p2 alter column data set storage external;
checkpoint;
insert into p2 select tenant, first_seq, last_seq, received_at, data from psrc;
select pg_size_pretty(pg_total_relation_size('b0')) b0, pg_size_pretty(pg_total_relation_size('e1')) e1, pg_size_pretty(pg_total_relation_size('p2')) p2, pg_size_pretty(pg_total_relation_size('w1')) w1;
drop table b0, e1, w1, i1, p1, p2;
