package com.gpuflow.agent.audit;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.security.MessageDigest;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;

import com.gpuflow.agent.config.AgentSettings;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionSynchronizationManager;

/**
 * Appends lifecycle events of sessions to the hash-chained audit log. Inside a transaction the
 * agent chains the rows itself and the database checks each statement (V32); outside one the row
 * trigger {@code audit_chain} chains them. The database refuses edits. Callers run this inside the
 * transaction that made the change, so the log and the state never disagree.
 */
@Component
public class AuditLog {

	public record Entry(long sessionId, BigInteger rentalId, AuditKind kind, String detail) {
	}

	private final JdbcClient jdbc;

	private final String hostId;

	@Autowired
	AuditLog(JdbcClient jdbc, AgentSettings settings) {
		this(jdbc, settings.hostId());
	}

	private AuditLog(JdbcClient jdbc, String hostId) {
		this.jdbc = jdbc;
		this.hostId = hostId;
	}

	/**
	 * The audit log of another host of a shared database: the chain reader writes the sessions of
	 * every registered host, each into that host's own hash chain.
	 */
	public AuditLog forHost(String otherHostId) {
		return otherHostId.equals(hostId) ? this : new AuditLog(jdbc, otherHostId);
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
		if (!TransactionSynchronizationManager.isActualTransactionActive()) {
			// Without a transaction the chain lock would not last from drawing the ids to the insert:
			// leave the chaining to the row trigger, which locks inside the statement.
			appendChainedByTrigger(entries);
			return;
		}
		lockChain();
		int n = entries.size();
		record Drawn(long id, Instant at, byte[] previous) {
		}
		List<Drawn> drawn = jdbc.sql("""
				select nextval('audit_log_id_seq'), date_trunc('microseconds', clock_timestamp()),
				       (select hash from audit_log where host_id = ? order by id desc limit 1)
				from generate_series(1, ?) order by 1""")
			.params(hostId, n)
			.query((rs, i) -> new Drawn(rs.getLong(1), rs.getObject(2, OffsetDateTime.class).toInstant(), rs.getBytes(3)))
			.list();
		// One time for the statement: the rows happened together.
		Instant at = drawn.get(0).at();
		long micros = AuditTime.epochMicros(at);
		byte[] previous = drawn.get(0).previous() == null ? AuditChainVerifier.GENESIS : drawn.get(0).previous();
		MessageDigest sha256 = AuditChainVerifier.sha256();
		Columns rows = Columns.of(entries);
		Long[] ids = new Long[n];
		byte[][] prevHashes = new byte[n][];
		byte[][] hashes = new byte[n][];
		for (int i = 0; i < n; i++) {
			ids[i] = drawn.get(i).id();
			prevHashes[i] = previous;
			hashes[i] = AuditChainVerifier.link(sha256, previous, AuditChainVerifier.rowText(ids[i], hostId,
					rows.sessions()[i], rows.rentals()[i], micros, rows.kinds()[i], rows.details()[i]));
			previous = hashes[i];
		}
		jdbc.sql("""
				insert into audit_log (id, host_id, session_id, rental_id, at, kind, detail, prev_hash, hash)
				select i, ?, s, r, ?, k, d, p, h
				from unnest(?::bigint[], ?::bigint[], ?::numeric[], ?::text[], ?::text[], ?::bytea[], ?::bytea[])
				  as t(i, s, r, k, d, p, h)
				order by i""")
			.params(hostId, at.atOffset(ZoneOffset.UTC), ids, rows.sessions(), rows.rentals(), rows.kinds(), rows.details(),
					prevHashes, hashes)
			.update();
	}

	private void appendChainedByTrigger(List<Entry> entries) {
		Columns rows = Columns.of(entries);
		jdbc.sql("""
				insert into audit_log (host_id, session_id, rental_id, kind, detail)
				select ?, s, r, k, d
				from unnest(?::bigint[], ?::numeric[], ?::text[], ?::text[]) with ordinality as t(s, r, k, d, n)
				order by n""")
			.params(hostId, rows.sessions(), rows.rentals(), rows.kinds(), rows.details())
			.update();
	}

	/** The entries as column arrays, for one {@code unnest} insert. */
	private record Columns(Long[] sessions, BigDecimal[] rentals, String[] kinds, String[] details) {

		static Columns of(List<Entry> entries) {
			int n = entries.size();
			Columns columns = new Columns(new Long[n], new BigDecimal[n], new String[n], new String[n]);
			for (int i = 0; i < n; i++) {
				Entry entry = entries.get(i);
				columns.sessions[i] = entry.sessionId();
				columns.rentals[i] = entry.rentalId() == null ? null : new BigDecimal(entry.rentalId());
				columns.kinds[i] = entry.kind().code();
				columns.details[i] = entry.detail() == null ? "" : entry.detail();
			}
			return columns;
		}

	}

}
