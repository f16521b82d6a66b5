-- Connection quality per session, judged from the live interface (rental.ConnectionRules):
-- connection_state is null while the session has no peer on the interface, else
-- 'waiting' (peer live, no handshake yet), 'connected' (latest handshake within
-- GPUFLOW_CONNECTION_LOST_AFTER) or 'lost' (it was connected, the handshake is now older).
alter table sessions add column connection_state text
    check (connection_state in ('waiting', 'connected', 'lost'));
-- Start of the current connected stretch; connected_seconds holds the stretches already closed.
alter table sessions add column connected_since timestamptz;
alter table sessions add column connected_seconds double precision not null default 0;
alter table sessions add column drops integer not null default 0;
-- Config delivered (generated key) or peer live (renter's own key) to the first handshake.
alter table sessions add column setup_seconds double precision;
-- Each setup is judged once: a first handshake within 60 s is 'established', none by then is
-- 'not_established' (a later handshake still gets its setup_seconds, but stays not established).
alter table sessions add column setup_outcome text check (setup_outcome in ('established', 'not_established'));

-- The per-pass checks ("a connected peer whose handshake got too old", "a setup 60 s without a
-- handshake") look only at the few rows that can match.
create index sessions_connected_by_handshake on sessions (host_id, last_handshake_at)
    where connection_state = 'connected';
create index sessions_setup_pending on sessions
    (host_id, (case when key_source = 'GENERATED' then config_delivered_at else peer_added_at end))
    where state = 'ACTIVE' and setup_outcome is null and first_handshake_at is null;

-- The auditors' view gains the connection columns at its end (create or replace keeps the grants;
-- they are repeated so the role's surface reads in one place).
create or replace view audit_sessions as
select s.host_id, s.rental_id, s.renter, host(s.tunnel_ip) as tunnel_ip, s.peer_public_key, s.state,
       s.created_at, s.confirmed_at, s.peer_added_at, s.config_delivered_at, s.first_handshake_at,
       s.ended_at, s.end_reason, s.rx_bytes, s.tx_bytes, s.starts_at, s.ends_at, s.id as session_id,
       s.connection_state, s.setup_seconds,
       s.connected_seconds + case when s.connection_state = 'connected' and s.connected_since is not null
           then greatest(0, extract(epoch from (now() - s.connected_since)))::double precision else 0 end
           as connected_seconds,
       s.drops, s.setup_outcome, s.last_handshake_at
from sessions s;

revoke all on all tables in schema public from gpuflow_auditor;
grant select on audit_sessions, audit_ip_history, audit_events to gpuflow_auditor;
