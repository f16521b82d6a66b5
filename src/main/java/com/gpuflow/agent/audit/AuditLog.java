package com.gpuflow.agent.audit;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.List;

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

	public record Entry(long sessionId, BigInteger rentalId, AuditKind kind, String detail) {
	}

	private final JdbcClient jdbc;

	private final String hostId;

	AuditLog(JdbcClient jdbc, AgentSettings settings) {
		this.jdbc = jdbc;
		this.hostId = settings.hostId();
	}

	/**
	 * Takes this host's audit chain lock now, at the start of a transaction that will append. An
	 * append takes it anyway (the trigger's advisory lock, held until commit); a transaction that
	 * had locked a session row first and then waited for it deadlocked with one that held it and
	 * wanted that row (found under load: a renter's config delivery against the reconciler recording
	 * 500 added peers; PostgreSQL aborted one, the renter got HTTP 500 and the peer_added records
	 * never landed). Taking it first gives every writer one lock order.
	 */
	public void lockChain() {
		jdbc.sql("select pg_advisory_xact_lock(hashtext('gpuflow-audit:' || ?))").param(hostId).query().singleRow();
	}

	public void append(long sessionId, BigInteger rentalId, AuditKind kind, String detail) {
		appendAll(List.of(new Entry(sessionId, rentalId, kind, detail)));
	}

	/** Appends in list order with one statement (the chain trigger still runs per row). */
	public void appendAll(List<Entry> entries) {
		if (entries.isEmpty()) {
			return;
		}
		int n = entries.size();
		Long[] sessions = new Long[n];
		BigDecimal[] rentals = new BigDecimal[n];
		String[] kinds = new String[n];
		String[] details = new String[n];
		for (int i = 0; i < n; i++) {
			Entry entry = entries.get(i);
			sessions[i] = entry.sessionId();
			rentals[i] = entry.rentalId() == null ? null : new BigDecimal(entry.rentalId());
			kinds[i] = entry.kind().code();
			details[i] = entry.detail() == null ? "" : entry.detail();
		}
		jdbc.sql("""
				insert into audit_log (host_id, session_id, rental_id, kind, detail)
				select ?, s, r, k, d
				from unnest(?::bigint[], ?::numeric[], ?::text[], ?::text[]) with ordinality as t(s, r, k, d, n)
				order by n""")
			.params(hostId, sessions, rentals, kinds, details)
			.update();
	}

}
