-- Every reconcile pass looks sessions up by peer key (what the interface did: added, removed,
-- handshakes, traffic, connection states); without this index each lookup scans the host's sessions.
create index sessions_by_peer_key on sessions (host_id, peer_public_key);
