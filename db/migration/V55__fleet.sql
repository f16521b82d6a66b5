-- Many hosts, one database (issue 14). Owned by the fleet package.

-- Every agent registers its HOST_ID at start; the chain reader reads the chain for every host here.
-- A host registered later is read from CHAIN_START_BLOCK like any other: it has no chain_cursor yet.
create table hosts (
    host_id           text        not null,
    contract          text        not null,
    registered_at     timestamptz not null default now(),
    last_started_at   timestamptz not null default now(),
    -- The reader refuses a renter key equal to the host's server key, and allocates from its network.
    server_public_key text,
    wg_cidr           text        not null,
    primary key (host_id, contract)
);

-- Who reads the chain now. The advisory lock elects; this row fences: every transaction of the
-- reader checks that its term is still the current one, so a deposed reader cannot write.
create table chain_reader (
    contract     text primary key,
    host_id      text        not null,
    term         bigint      not null,
    since        timestamptz not null,
    heartbeat_at timestamptz not null,
    head_block   bigint
);
