-- Audit surface, second pass: chain order equals id order, an exact hash text on every PostgreSQL
-- the SPEC allows, indexes for the audit routes' keyset pages, and the auditor role held to the
-- three views.

-- 1. Ids are taken under the chain lock.
-- With the bigserial default, an id is drawn before the trigger waits for the audit_head row lock,
-- so two concurrent writers could chain as 10 -> 12 -> 11: a verifier walking ids would report a
-- break that is not one. Drawing the id inside the trigger, after the lock, makes id order the
-- chain order (the lock is held until commit). It also means nobody can choose an id.
alter table audit_log alter column id drop default;

create or replace function audit_chain() returns trigger language plpgsql as $$
declare
    previous bytea;
begin
    insert into audit_head (host_id, last_id, last_hash)
    values (new.host_id, null, decode(repeat('00', 32), 'hex'))
    on conflict (host_id) do nothing;
    -- the row lock serialises writers of one host's chain
    select last_hash into previous from audit_head where host_id = new.host_id for update;
    new.id := nextval(pg_get_serial_sequence('audit_log', 'id'));
    new.at := date_trunc('microseconds', coalesce(new.at, clock_timestamp()));
    new.prev_hash := previous;
    new.hash := sha256(previous || convert_to(audit_row_text(new), 'UTF8'));
    update audit_head set last_id = new.id, last_hash = new.hash where host_id = new.host_id;
    return new;
end
$$;

-- 2. The hashed text, exact on PostgreSQL 13 too.
-- extract(epoch ...) is numeric from PostgreSQL 14 on but double precision on 13, where
-- "* 1000000" can round a microsecond away. Whole seconds plus the microsecond field is exact on
-- both and gives the same digits as before on 14+, so rows already written still verify.
create or replace function audit_row_text(r audit_log) returns text language sql immutable as $$
    select r.id::text || '|' || r.host_id || '|' || coalesce(r.session_id::text, '') || '|'
        || coalesce(r.rental_id::text, '') || '|'
        || (extract(epoch from date_trunc('second', r.at))::bigint * 1000000
            + extract(microseconds from r.at)::bigint % 1000000)::text
        || '|' || r.kind || '|' || r.detail
$$;

-- 3. Indexes behind the audit routes and the auditors' typical queries.
-- GET /v1/audit/sessions pages newest first by (created_at, id), optionally per renter or state.
create index sessions_by_renter_created on sessions (host_id, renter, created_at, id);
create index sessions_by_state_created on sessions (host_id, state, created_at, id);
-- The verifier walks one host's chain in id order; the events route reads one rental's events.
create index audit_log_by_host on audit_log (host_id, id);
create index audit_log_by_rental on audit_log (host_id, rental_id, id);
-- audit_ip_history exposes the address as text (host(ip)): index that expression so
-- "where ip = '10.77.3.4'" on the view uses an index.
create index leases_by_host_text on leases (host_id, host(ip), held_from);

-- 4. The auditors' view of leases gains the holding period as a range, so "who held this address
-- at that moment" is one containment test: held @> timestamptz '...'.
create or replace view audit_ip_history as
select l.host_id, host(l.ip) as ip, s.rental_id, s.renter, l.held_from, l.held_to, l.session_id,
       tstzrange(l.held_from, l.held_to, '[)') as held
from leases l
join sessions s on s.id = l.session_id;

-- 5. gpuflow_auditor: SELECT on the three views and nothing else.
-- PostgreSQL 13 and 14 let PUBLIC create objects in schema public; an auditor could then write
-- there. Where this user owns the schema (a database made for the agent), take that away from
-- PUBLIC; the owner keeps it. Elsewhere the operator decides, and is told.
do $$
begin
    if exists (select 1 from pg_namespace n where n.nspname = 'public'
               and pg_has_role(current_user, n.nspowner, 'USAGE')) then
        revoke create on schema public from public;
    elsif has_schema_privilege('public', 'public', 'CREATE') then
        raise notice 'PUBLIC may create objects in schema public (and so may gpuflow_auditor): '
            'revoke create on schema public from public, as the schema owner';
    end if;
end
$$;
revoke all on all tables in schema public from gpuflow_auditor;
revoke all on all sequences in schema public from gpuflow_auditor;
grant usage on schema public to gpuflow_auditor;
grant select on audit_sessions, audit_ip_history, audit_events to gpuflow_auditor;
