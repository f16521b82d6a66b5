-- gpuflow-agent schema. Several agents (one per GPU host) may share this database, so every row
-- carries the host id (0x + 64 lowercase hex) and, where chain-derived, the contract address.

-- btree_gist lets one exclusion constraint mix equality on host/ip with overlap on time ranges.
-- It is a trusted extension: a database owner may create it without superuser.
create extension if not exists btree_gist;

-- Last block whose logs are fully persisted. Reading resumes strictly after it.
create table chain_cursor (
    host_id      text        not null,
    contract     text        not null,
    block_number bigint      not null,
    block_hash   text        not null,
    updated_at   timestamptz not null default now(),
    primary key (host_id, contract)
);

-- Hashes of recently processed blocks (the checkpoint and every block that carried one of our
-- events), so a reorganisation can be found by comparing them with the chain again.
create table chain_blocks (
    host_id      text   not null,
    contract     text   not null,
    block_number bigint not null,
    block_hash   text   not null,
    primary key (host_id, contract, block_number)
);

-- Every log of ours, exactly once (natural key tx hash + log index among the live ones).
-- A reorganisation marks the orphaned rows instead of deleting them.
create table chain_events (
    id           bigserial primary key,
    host_id      text        not null,
    contract     text        not null,
    block_number bigint      not null,
    block_hash   text        not null,
    tx_hash      text        not null,
    log_index    integer     not null,
    kind         text        not null check (kind in ('RentalCreated', 'RentalExtended', 'RentalEnded', 'Undecodable')),
    rental_id    numeric(78, 0),
    payload      jsonb       not null,
    recorded_at  timestamptz not null default now(),
    orphaned_at  timestamptz
);
create unique index chain_events_natural_key on chain_events (host_id, contract, tx_hash, log_index)
    where orphaned_at is null;
create index chain_events_by_rental on chain_events (host_id, contract, rental_id) where orphaned_at is null;
create index chain_events_by_block on chain_events (host_id, contract, block_number) where orphaned_at is null;

-- Rentals seen in blocks not yet covered by CHAIN_CONFIRMATIONS: a volatile view of the unconfirmed
-- tip, rewritten on every poll.
create table pending_rentals (
    host_id       text           not null,
    contract      text           not null,
    rental_id     numeric(78, 0) not null,
    renter        text           not null,
    starts_at     timestamptz    not null,
    ends_at       timestamptz    not null,
    block_number  bigint         not null,
    first_seen_at timestamptz    not null default now(),
    primary key (host_id, contract, rental_id)
);

-- One session per confirmed appearance of a rental on the chain. A rental id that a reorganisation
-- removed and that appears again is a new session.
create table sessions (
    id                  bigserial primary key,
    host_id             text           not null,
    contract            text           not null,
    rental_id           numeric(78, 0) not null,
    renter              text           not null,
    state               text           not null check (state in ('ACTIVE', 'ENDED', 'EXPIRED', 'REORGED_OUT')),
    starts_at           timestamptz    not null,
    ends_at             timestamptz    not null,
    created_event_id    bigint         not null references chain_events (id),
    key_source          text           not null check (key_source in ('RENTER', 'GENERATED')),
    peer_public_key     text,
    sealed_private_key  bytea,
    tunnel_ip           inet,
    pool_exhausted      boolean        not null default false,
    created_at          timestamptz    not null,
    confirmed_at        timestamptz    not null,
    peer_added_at       timestamptz,
    peer_removed_at     timestamptz,
    config_delivered_at timestamptz,
    first_handshake_at  timestamptz,
    last_handshake_at   timestamptz,
    key_destroyed_at    timestamptz,
    ended_at            timestamptz,
    end_reason          text,
    rx_bytes            bigint         not null default 0,
    tx_bytes            bigint         not null default 0,
    -- raw interface counters at the last pass, to detect counter resets (interface recreated)
    rx_counter          bigint         not null default 0,
    tx_counter          bigint         not null default 0,
    endpoint            text
);
create unique index sessions_live_rental on sessions (host_id, contract, rental_id) where state <> 'REORGED_OUT';
create index sessions_active_by_end on sessions (host_id, ends_at) where state = 'ACTIVE';
create index sessions_by_renter on sessions (host_id, renter, id);
create index sessions_by_created on sessions (host_id, created_at, id);

-- Tunnel address leases. `reserved` is [held_from, held_to + 10 minutes): the exclusion constraint
-- makes two holders of one address at once, or a reuse inside the rest period, impossible.
create table leases (
    id         bigserial primary key,
    host_id    text        not null,
    ip         inet        not null,
    session_id bigint      not null references sessions (id),
    held_from  timestamptz not null,
    held_to    timestamptz,
    reserved   tstzrange   not null,
    constraint leases_no_overlap exclude using gist (host_id with =, ip with =, reserved with &&)
);
create unique index leases_one_open_per_session on leases (session_id) where held_to is null;
create index leases_by_ip on leases (host_id, ip, held_from);

-- Next-fit allocation cursor per host.
create table ipam_cursor (
    host_id text primary key,
    last_ip inet not null
);

-- Sign-in challenges: single use, spent by the first request that presents them.
create table challenges (
    nonce      text primary key,
    host_id    text        not null,
    session_id bigint      not null references sessions (id),
    message    text        not null,
    issued_at  timestamptz not null,
    expires_at timestamptz not null,
    spent_at   timestamptz
);
create index challenges_expiry on challenges (expires_at);

-- Append-only, hash-chained audit log (one chain per host).
create table audit_log (
    id         bigserial primary key,
    host_id    text           not null,
    session_id bigint references sessions (id),
    rental_id  numeric(78, 0),
    at         timestamptz    not null default clock_timestamp(),
    kind       text           not null check (kind in ('created', 'confirmed', 'peer_added', 'config_delivered',
                                                       'handshake_first', 'extended', 'ended', 'expired',
                                                       'peer_removed', 'key_destroyed', 'rekeyed', 'reorged_out')),
    detail     text           not null default '',
    prev_hash  bytea          not null,
    hash       bytea          not null
);
create index audit_log_by_session on audit_log (session_id, id);

create table audit_head (
    host_id   text primary key,
    last_id   bigint,
    last_hash bytea not null
);

-- The canonical text a row's hash covers. The agent's verifier recomputes exactly this.
create function audit_row_text(r audit_log) returns text language sql immutable as $$
    select r.id::text || '|' || r.host_id || '|' || coalesce(r.session_id::text, '') || '|'
        || coalesce(r.rental_id::text, '') || '|' || (extract(epoch from r.at) * 1000000)::bigint::text
        || '|' || r.kind || '|' || r.detail
$$;

create function audit_chain() returns trigger language plpgsql as $$
declare
    previous bytea;
begin
    insert into audit_head (host_id, last_id, last_hash)
    values (new.host_id, null, decode(repeat('00', 32), 'hex'))
    on conflict (host_id) do nothing;
    -- the row lock serialises writers of one host's chain
    select last_hash into previous from audit_head where host_id = new.host_id for update;
    new.at := date_trunc('microseconds', coalesce(new.at, clock_timestamp()));
    new.prev_hash := previous;
    new.hash := sha256(previous || convert_to(audit_row_text(new), 'UTF8'));
    update audit_head set last_id = new.id, last_hash = new.hash where host_id = new.host_id;
    return new;
end
$$;

create trigger audit_log_chain before insert on audit_log for each row execute function audit_chain();

create function audit_refuse_change() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
end
$$;

create trigger audit_log_append_only before update or delete on audit_log
    for each row execute function audit_refuse_change();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_refuse_change();

-- The auditors' surface.
create view audit_sessions as
select s.host_id, s.rental_id, s.renter, host(s.tunnel_ip) as tunnel_ip, s.peer_public_key, s.state,
       s.created_at, s.confirmed_at, s.peer_added_at, s.config_delivered_at, s.first_handshake_at,
       s.ended_at, s.end_reason, s.rx_bytes, s.tx_bytes, s.starts_at, s.ends_at, s.id as session_id
from sessions s;

create view audit_ip_history as
select l.host_id, host(l.ip) as ip, s.rental_id, s.renter, l.held_from, l.held_to, l.session_id
from leases l
join sessions s on s.id = l.session_id;

create view audit_events as
select a.id, a.host_id, a.session_id, a.rental_id, a.at, a.kind, a.detail, encode(a.prev_hash, 'hex') as prev_hash,
       encode(a.hash, 'hex') as hash
from audit_log a;

do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'gpuflow_auditor') then
        create role gpuflow_auditor nologin;
    end if;
end
$$;
grant usage on schema public to gpuflow_auditor;
grant select on audit_sessions, audit_ip_history, audit_events to gpuflow_auditor;
