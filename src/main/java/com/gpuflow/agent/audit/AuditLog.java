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

	public void append(long sessionId, BigInteger rentalId, AuditKind kind, String detail) {
		jdbc.sql("insert into audit_log (host_id, session_id, rental_id, kind, detail) values (?, ?, ?, ?, ?)")
			.params(hostId, sessionId, rentalId == null ? null : new java.math.BigDecimal(rentalId), kind.code(), detail == null ? "" : detail)
			.update();
	}

}
