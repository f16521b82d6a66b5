-- SSH public keys per session (PUT /v1/rentals/{id}/ssh-keys). A session's keys are replaced
-- whole; sshd's AuthorizedKeysCommand reads only those of ACTIVE sessions with a peer, so keys
-- die with their session. Only the key type and blob are stored: no renter text reaches sshd.
create table ssh_keys (
    session_id  bigint      not null references sessions (id),
    position    smallint    not null check (position between 1 and 8),
    key_type    text        not null,
    key_blob    bytea       not null,
    fingerprint text        not null,
    set_at      timestamptz not null,
    primary key (session_id, position)
);

-- The audit trail's kinds gain ssh_keys_set. Other migrations widen the same check, so the new
-- one is the union of whatever the current check allows and every kind of the SPEC: applied in
-- any order, none of them narrows another's.
do $$
declare
    constraint_name text;
    allowed text[] := array['created', 'confirmed', 'peer_added', 'config_delivered', 'handshake_first',
                            'extended', 'ended', 'expired', 'peer_removed', 'key_destroyed', 'rekeyed',
                            'reorged_out', 'key_rejected', 'connection_lost', 'connection_restored',
                            'ssh_keys_set'];
    definition text;
    kinds text;
begin
    for constraint_name, definition in
        select c.conname, pg_get_constraintdef(c.oid) from pg_constraint c
        where c.conrelid = 'audit_log'::regclass and c.contype = 'c' and pg_get_constraintdef(c.oid) like '%kind%'
    loop
        allowed := allowed || array(select m[1] from regexp_matches(definition, '''([a-z_]+)''', 'g') as m);
        execute format('alter table audit_log drop constraint %I', constraint_name);
    end loop;
    select string_agg(quote_literal(k), ', ' order by k) into kinds from (select distinct unnest(allowed) as k) as u;
    execute format('alter table audit_log add constraint audit_log_kind_check check (kind in (%s))', kinds);
end
$$;
