package com.gpuflow.agent.audit;

import java.math.BigInteger;

import com.gpuflow.agent.config.AgentSettings;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;

/**
 * Appends lifecycle events of sessions to the hash-chained audit log. The database computes the
 * chain (trigger {@code audit_chain}) and refuses edits; callers run this inside the transaction
 * that made the change, so the log and the state never disagree.
 */
@Component
public class AuditLog {

	private final JdbcClient jdbc;

	private final String hostId;

	AuditLog(JdbcClient jdbc, AgentSettings settings) {
		this.jdbc = jdbc;
		this.hostId = settings.hostId();
	}

	/**
	 * Takes this host's audit chain lock now, at the start of a transaction that will append. An
	 * append takes it anyway (the trigger locks the audit_head row) and holds it until commit; a
	 * transaction that had locked a session row first and then waited for it deadlocked with one that
	 * held it and wanted that row (found under load: a renter's config delivery against the
	 * reconciler recording 500 added peers; PostgreSQL aborted one, the renter got HTTP 500 and the
	 * peer_added records never landed). Taking it first gives every writer one lock order.
	 */
	public void lockChain() {
		jdbc.sql("insert into audit_head (host_id, last_id, last_hash) values (?, null, decode(repeat('00', 32), 'hex')) "
				+ "on conflict (host_id) do nothing")
			.param(hostId)
			.update();
		jdbc.sql("select 1 from audit_head where host_id = ? for update").param(hostId).query(Integer.class).single();
	}

	public void append(long sessionId, BigInteger rentalId, AuditKind kind, String detail) {
		jdbc.sql("insert into audit_log (host_id, session_id, rental_id, kind, detail) values (?, ?, ?, ?, ?)")
			.params(hostId, sessionId, rentalId == null ? null : new java.math.BigDecimal(rentalId), kind.code(), detail == null ? "" : detail)
			.update();
	}

}
