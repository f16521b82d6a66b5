package com.gpuflow.agent.audit;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
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

	/**
	 * Appends in list order with one statement, chained here rather than row by row in the trigger
	 * (V32): under this host's chain lock it draws the ids, reads the previous hash and the database
	 * clock once, and computes each hash exactly as {@link AuditChainVerifier} recomputes it. The
	 * database checks the whole statement's links and hashes once after it ran and refuses it if any
	 * is wrong.
	 */
	public void appendAll(List<Entry> entries) {
		if (entries.isEmpty()) {
			return;
		}
		if (!org.springframework.transaction.support.TransactionSynchronizationManager.isActualTransactionActive()) {
			// Without a transaction the chain lock would not last from drawing the ids to the insert:
			// leave the chaining to the row trigger, which locks inside the statement.
			appendChainedByTrigger(entries);
			return;
		}
		lockChain();
		int n = entries.size();
		record Drawn(long id, java.time.Instant at, byte[] previous) {
		}
		List<Drawn> drawn = jdbc.sql("""
				select nextval('audit_log_id_seq'), date_trunc('microseconds', clock_timestamp()),
				       (select hash from audit_log where host_id = ? order by id desc limit 1)
				from generate_series(1, ?) order by 1""")
			.params(hostId, n)
			.query((rs, i) -> new Drawn(rs.getLong(1), rs.getObject(2, java.time.OffsetDateTime.class).toInstant(),
					rs.getBytes(3)))
			.list();
		// One time for the statement: the rows happened together.
		java.time.Instant at = drawn.get(0).at();
		long micros = AuditTime.epochMicros(at);
		java.time.OffsetDateTime atUtc = at.atOffset(java.time.ZoneOffset.UTC);
		byte[] previous = drawn.get(0).previous() == null ? AuditChainVerifier.GENESIS : drawn.get(0).previous();
		java.security.MessageDigest sha256 = sha256();
		Long[] ids = new Long[n];
		Long[] sessions = new Long[n];
		BigDecimal[] rentals = new BigDecimal[n];
		String[] kinds = new String[n];
		String[] details = new String[n];
		byte[][] prevHashes = new byte[n][];
		byte[][] hashes = new byte[n][];
		StringBuilder text = new StringBuilder(160);
		for (int i = 0; i < n; i++) {
			Entry entry = entries.get(i);
			ids[i] = drawn.get(i).id();
			sessions[i] = entry.sessionId();
			rentals[i] = entry.rentalId() == null ? null : new BigDecimal(entry.rentalId());
			kinds[i] = entry.kind().code();
			details[i] = entry.detail() == null ? "" : entry.detail();
			// Exactly audit_row_text() of V30/V31 (see AuditChainVerifier.Row#text).
			text.setLength(0);
			text.append(ids[i]).append('|').append(hostId).append('|')
				.append(sessions[i] == null ? "" : sessions[i].toString()).append('|')
				.append(rentals[i] == null ? "" : rentals[i].toPlainString()).append('|')
				.append(micros).append('|').append(kinds[i]).append('|').append(details[i]);
			prevHashes[i] = previous;
			sha256.update(previous);
			sha256.update(text.toString().getBytes(StandardCharsets.UTF_8));
			hashes[i] = sha256.digest();
			previous = hashes[i];
		}
		jdbc.sql("""
				insert into audit_log (id, host_id, session_id, rental_id, at, kind, detail, prev_hash, hash)
				select i, ?, s, r, ?, k, d, p, h
				from unnest(?::bigint[], ?::bigint[], ?::numeric[], ?::text[], ?::text[], ?::bytea[], ?::bytea[])
				  as t(i, s, r, k, d, p, h)
				order by i""")
			.params(hostId, atUtc, ids, sessions, rentals, kinds, details, prevHashes, hashes)
			.update();
	}

	private void appendChainedByTrigger(List<Entry> entries) {
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

	private static java.security.MessageDigest sha256() {
		try {
			return java.security.MessageDigest.getInstance("SHA-256");
		}
		catch (java.security.NoSuchAlgorithmException e) {
			throw new IllegalStateException("every Java runtime has SHA-256", e);
		}
	}

}
