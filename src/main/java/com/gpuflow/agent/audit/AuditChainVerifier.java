package com.gpuflow.agent.audit;

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Optional;

import com.gpuflow.agent.audit.AuditRecords.Verification;
import com.gpuflow.agent.config.AgentSettings;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.transaction.TransactionDefinition;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Recomputes this host's audit hash chain in Java, independently of the database's trigger:
 * {@code hash = sha256(prev_hash || utf8(audit_row_text(row)))}, starting from 32 zero bytes, in id
 * order (V30 draws ids under the chain lock, so id order is chain order). A row whose stored link or
 * hash disagrees with the recomputation is the first bad one; the chain head must name the last row,
 * which catches rows cut off the end.
 */
@Component
class AuditChainVerifier {

	static final byte[] GENESIS = new byte[32];

	private static final int PAGE = 5_000;

	private final JdbcClient jdbc;

	private final TransactionTemplate snapshot;

	private final String hostId;

	AuditChainVerifier(JdbcClient jdbc, PlatformTransactionManager transactions, AgentSettings settings) {
		this.jdbc = jdbc;
		this.hostId = settings.hostId();
		// One snapshot for the rows and the head: appends during the walk must not look like a break.
		this.snapshot = new TransactionTemplate(transactions);
		this.snapshot.setIsolationLevel(TransactionDefinition.ISOLATION_REPEATABLE_READ);
		this.snapshot.setReadOnly(true);
	}

	record Row(long id, String hostId, Long sessionId, BigDecimal rentalId, OffsetDateTime at, String kind,
			String detail, byte[] prevHash, byte[] hash) {

		String text() {
			return rowText(id, hostId, sessionId, rentalId, AuditTime.epochMicros(at.toInstant()), kind, detail);
		}

	}

	Verification verify() {
		return snapshot.execute(status -> walk());
	}

	private Verification walk() {
		byte[] expectedPrev = GENESIS;
		Long firstBad = null;
		long events = 0;
		long lastId = 0;
		boolean any = false;
		while (true) {
			List<Row> rows = jdbc.sql("""
					select id, host_id, session_id, rental_id, at, kind, detail, prev_hash, hash from audit_log
					where host_id = ? and id > ? order by id limit ?""")
				.params(hostId, lastId, PAGE)
				.query(AuditChainVerifier::row)
				.list();
			for (Row row : rows) {
				events++;
				any = true;
				lastId = row.id();
				boolean linked = MessageDigest.isEqual(row.prevHash(), expectedPrev);
				boolean intact = MessageDigest.isEqual(row.hash(), hash(expectedPrev, row.text()));
				if (firstBad == null && !(linked && intact)) {
					firstBad = row.id();
				}
				// Go on from what the row claims, so one altered row is reported once and the walk
				// still counts every event.
				expectedPrev = row.hash();
			}
			if (rows.size() < PAGE) {
				break;
			}
		}
		record Head(Long lastId, byte[] lastHash) {
		}
		Optional<Head> head = jdbc.sql("select last_id, last_hash from audit_head where host_id = ?")
			.param(hostId)
			.query((rs, n) -> new Head((Long) rs.getObject("last_id", Long.class), rs.getBytes("last_hash")))
			.optional();
		if (firstBad == null && head.isPresent() && head.get().lastId() != null) {
			boolean headMatches = any && head.get().lastId() == lastId
					&& MessageDigest.isEqual(head.get().lastHash(), expectedPrev);
			if (!headMatches) {
				// The head names a row that is gone (or another one): the chain was cut after lastId.
				firstBad = head.get().lastId();
			}
		}
		return new Verification(firstBad == null, events, firstBad);
	}

	/**
	 * Exactly {@code audit_row_text()} of V30: what a row's hash covers. The writer ({@link AuditLog})
	 * chains with it and this class checks with it.
	 */
	static String rowText(long id, String hostId, Long sessionId, BigDecimal rentalId, long epochMicros, String kind,
			String detail) {
		return id + "|" + hostId + "|" + (sessionId == null ? "" : sessionId.toString()) + "|"
				+ (rentalId == null ? "" : rentalId.toPlainString()) + "|" + epochMicros + "|" + kind + "|" + detail;
	}

	static byte[] hash(byte[] prev, String text) {
		return link(sha256(), prev, text);
	}

	/** {@code sha256(prev || utf8(text))}, with a digest the caller may reuse over a batch of rows. */
	static byte[] link(MessageDigest sha256, byte[] prev, String text) {
		sha256.update(prev);
		sha256.update(text.getBytes(StandardCharsets.UTF_8));
		return sha256.digest();
	}

	static MessageDigest sha256() {
		try {
			return MessageDigest.getInstance("SHA-256");
		}
		catch (NoSuchAlgorithmException e) {
			throw new IllegalStateException("every Java runtime has SHA-256", e);
		}
	}

	private static Row row(ResultSet rs, int n) throws SQLException {
		return new Row(rs.getLong("id"), rs.getString("host_id"), (Long) rs.getObject("session_id", Long.class),
				rs.getBigDecimal("rental_id"), rs.getObject("at", OffsetDateTime.class), rs.getString("kind"),
				rs.getString("detail"), rs.getBytes("prev_hash"), rs.getBytes("hash"));
	}

}
