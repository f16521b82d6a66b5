-- A renter key the agent refuses (the server's own key, or the key of another session of this host
-- that is not over): the session stays ACTIVE and keeps its address, but gets no peer until a rekey.
alter table sessions add column key_rejected text;

-- Every audit kind of SPEC v2, so that no later feature has to widen the list again.
alter table audit_log drop constraint if exists audit_log_kind_check;
alter table audit_log add constraint audit_log_kind_check check (kind in (
    'created', 'confirmed', 'peer_added', 'config_delivered', 'handshake_first', 'extended', 'ended', 'expired',
    'peer_removed', 'key_destroyed', 'rekeyed', 'reorged_out', 'key_rejected', 'connection_lost',
    'connection_restored', 'ssh_keys_set'));

-- Every reconcile pass asks whether a session waits for an address; most find none.
create index sessions_waiting_for_address on sessions (host_id) where state = 'ACTIVE' and tunnel_ip is null;
