package com.gpuflow.agent.audit;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import com.gpuflow.agent.audit.AuditRecords.Verification;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The audit log in the real PostgreSQL: append-only by trigger, hash-chained, and the Java verifier
 * agreeing with the database's definition of the hashed text, including when rows are tampered
 * with by someone who can switch the trigger off.
 */
class AuditLogIntegrityTest {

	AuditDatabase db;

	@BeforeEach
	void freshDatabase() {
		db = AuditDatabase.create();
	}

	void appendSome(int count) {
		for (int i = 0; i < count; i++) {
			db.append(AuditDatabase.HOST, null, (long) i + 1, "created", "renter 0xabc ends 2026-11-25T18:00:00Z #" + i);
		}
	}

	@Test
	void updateDeleteAndTruncateOfTheAuditLogAreRefused() throws SQLException {
		appendSome(3);
		try (Connection c = db.connection().open(); Statement s = c.createStatement()) {
			assertThatThrownBy(() -> s.executeUpdate("update audit_log set detail = 'edited'"))
				.hasMessageContaining("append-only").hasMessageContaining("UPDATE");
			assertThatThrownBy(() -> s.executeUpdate("delete from audit_log where id = 1"))
				.hasMessageContaining("append-only").hasMessageContaining("DELETE");
			assertThatThrownBy(() -> s.executeUpdate("truncate audit_log"))
				.hasMessageContaining("append-only").hasMessageContaining("TRUNCATE");
		}
		assertThat(db.jdbc().sql("select count(*) from audit_log").query(Long.class).single()).isEqualTo(3);
		assertThat(db.jdbc().sql("select detail from audit_log where id = 1").query(String.class).single())
			.doesNotContain("edited");
	}

	@Test
	void anUntouchedChainVerifies() {
		appendSome(12);
		db.append(AuditDatabase.OTHER_HOST, null, 99L, "created", "another host's chain");
		assertThat(db.verifier().verify()).isEqualTo(new Verification(true, 12, null));
		assertThat(db.verifier(AuditDatabase.OTHER_HOST).verify()).isEqualTo(new Verification(true, 1, null));
	}

	@Test
	void anEmptyLogVerifies() {
		assertThat(db.verifier().verify()).isEqualTo(new Verification(true, 0, null));
	}

	@Test
	void theJavaVerifierAgreesWithTheDatabaseOnAwkwardValues() {
		// Times before 1970, at a second's last microsecond, far ahead; a rental id above 2^64;
		// text with separators, quotes and multi-byte characters; no session and no rental.
		db.jdbc().sql("insert into audit_log (host_id, rental_id, at, kind, detail) values (?, ?, ?::timestamptz, 'created', ?)")
			.params(AuditDatabase.HOST, new java.math.BigDecimal("115792089237316195423570985008687907853269984665640564039457584007913129639935"),
					"1969-07-20 20:17:40.999999+00", "a|b \"quoted\" — ünïcödé 🚀\nnext line")
			.update();
		db.jdbc().sql("insert into audit_log (host_id, at, kind, detail) values (?, ?::timestamptz, 'ended', '')")
			.params(AuditDatabase.HOST, "2026-11-25 18:00:00.000001+05:30")
			.update();
		db.jdbc().sql("insert into audit_log (host_id, at, kind, detail) values (?, ?::timestamptz, 'expired', 'x')")
			.params(AuditDatabase.HOST, "9999-12-31 23:59:59.999999+00")
			.update();
		db.jdbc().sql("insert into audit_log (host_id, at, kind, detail) values (?, ?::timestamptz, 'expired', 'nanos cut')")
			.params(AuditDatabase.HOST, "2030-01-01 00:00:00.1234567+00")
			.update();
		// What the database hashed, byte for byte, against what Java builds.
		List<String> sqlTexts = db.jdbc().sql("select audit_row_text(a) from audit_log a order by id").query(String.class).list();
		assertThat(sqlTexts.get(0)).contains("|-14182939000001|");
		assertThat(db.verifier().verify()).isEqualTo(new Verification(true, 4, null));
	}

	@Test
	void aRowAlteredWithTheTriggerDisabledIsTheFirstBadEvent() throws SQLException {
		appendSome(10);
		long tampered = db.jdbc().sql("select id from audit_log order by id offset 6 limit 1").query(Long.class).single();
		try (Connection c = db.connection().open(); Statement s = c.createStatement()) {
			s.execute("alter table audit_log disable trigger audit_log_append_only");
			s.executeUpdate("update audit_log set detail = 'nothing happened here' where id = " + tampered);
			s.execute("alter table audit_log enable trigger audit_log_append_only");
		}
		assertThat(db.verifier().verify()).isEqualTo(new Verification(false, 10, tampered));
	}

	@Test
	void aRowWhoseHashWasRecomputedBreaksTheLinkOfTheNext() throws SQLException {
		appendSome(5);
		List<Long> ids = db.jdbc().sql("select id from audit_log order by id").query(Long.class).list();
		try (Connection c = db.connection().open(); Statement s = c.createStatement()) {
			s.execute("alter table audit_log disable trigger audit_log_append_only");
			// A forger who knows the scheme rewrites row 2 consistently; row 3 still names the old hash.
			s.executeUpdate("update audit_log set detail = 'forged', hash = sha256(prev_hash || convert_to("
					+ "audit_row_text(row(id, host_id, session_id, rental_id, at, kind, 'forged', prev_hash, hash)::audit_log), 'UTF8'))"
					+ " where id = " + ids.get(1));
			s.execute("alter table audit_log enable trigger audit_log_append_only");
		}
		assertThat(db.verifier().verify()).isEqualTo(new Verification(false, 5, ids.get(2)));
	}

	@Test
	void aRowDeletedFromTheMiddleOrTheEndIsFound() throws SQLException {
		appendSome(6);
		List<Long> ids = db.jdbc().sql("select id from audit_log order by id").query(Long.class).list();
		try (Connection c = db.connection().open(); Statement s = c.createStatement()) {
			s.execute("alter table audit_log disable trigger audit_log_append_only");
			s.executeUpdate("delete from audit_log where id = " + ids.get(5));
			s.execute("alter table audit_log enable trigger audit_log_append_only");
		}
		assertThat(db.verifier().verify()).as("the head still names the removed last row")
			.isEqualTo(new Verification(false, 5, ids.get(5)));
		try (Connection c = db.connection().open(); Statement s = c.createStatement()) {
			s.execute("alter table audit_log disable trigger audit_log_append_only");
			s.executeUpdate("delete from audit_log where id = " + ids.get(2));
			s.execute("alter table audit_log enable trigger audit_log_append_only");
		}
		assertThat(db.verifier().verify()).isEqualTo(new Verification(false, 4, ids.get(3)));
	}

	@Test
	void concurrentWritersStillChainInIdOrder() throws Exception {
		ExecutorService pool = Executors.newFixedThreadPool(6);
		try {
			List<Future<?>> writers = new ArrayList<>();
			for (int w = 0; w < 6; w++) {
				long writer = w;
				writers.add(pool.submit(() -> {
					for (int i = 0; i < 100; i++) {
						db.append(AuditDatabase.HOST, null, writer, "peer_added", "writer " + writer + " #" + i);
					}
				}));
			}
			for (Future<?> writer : writers) {
				writer.get();
			}
		}
		finally {
			pool.shutdownNow();
		}
		assertThat(db.verifier().verify()).isEqualTo(new Verification(true, 600, null));
		assertThat(db.jdbc().sql("select count(*) from audit_log a join audit_log b on b.prev_hash = a.hash where b.id < a.id")
			.query(Long.class)
			.single()).as("no row links back to a later id").isZero();
	}

	@Test
	void anIdGivenByTheWriterIsReplacedByTheChain() {
		appendSome(1);
		long id = db.jdbc().sql("insert into audit_log (id, host_id, kind) values (1000000, ?, 'created') returning id")
			.param(AuditDatabase.HOST)
			.query(Long.class)
			.single();
		assertThat(id).isLessThan(1000000);
		assertThat(db.verifier().verify().ok()).isTrue();
	}

	@Test
	void batchesChainedByTheAgentVerifyBetweenRowsChainedByTheTrigger() {
		long session = aSession();
		AuditLog log = new AuditLog(db.jdbc(), db.settings());
		var transactions = new org.springframework.transaction.support.TransactionTemplate(
				new org.springframework.jdbc.datasource.DataSourceTransactionManager(db.dataSource()));
		appendSome(2);
		List<AuditLog.Entry> batch = new ArrayList<>();
		for (int i = 0; i < 500; i++) {
			batch.add(new AuditLog.Entry(session, java.math.BigInteger.TWO.pow(70).add(java.math.BigInteger.valueOf(i)),
					AuditKind.CREATED, i % 2 == 0 ? "renter 0xabc ends 2026-11-25T18:00:00Z #" + i : "ünïcode ✓ #" + i));
		}
		transactions.executeWithoutResult(status -> log.appendAll(batch));
		appendSome(1);
		transactions.executeWithoutResult(status -> log.append(session, java.math.BigInteger.ONE, AuditKind.CONFIRMED, ""));
		log.append(session, java.math.BigInteger.ONE, AuditKind.PEER_ADDED, "outside a transaction: the trigger chains it");
		db.append(AuditDatabase.OTHER_HOST, null, 99L, "created", "another host's chain");
		assertThat(db.verifier().verify()).isEqualTo(new Verification(true, 505, null));
		assertThat(db.jdbc().sql("select last_id from audit_head where host_id = ?").param(AuditDatabase.HOST)
			.query(Long.class).single()).isEqualTo(db.jdbc().sql("select max(id) from audit_log where host_id = ?")
				.param(AuditDatabase.HOST).query(Long.class).single());
	}

	@Test
	void aStatementThatBringsItsOwnHashesIsRefusedUnlessTheyChain() {
		appendSome(3);
		byte[] last = db.jdbc().sql("select hash from audit_log order by id desc limit 1").query(byte[].class).single();
		String insert = """
				insert into audit_log (id, host_id, at, kind, detail, prev_hash, hash)
				values (?, ?, '2026-11-25T18:00:00Z', 'created', 'x', ?, ?)""";
		long next = db.jdbc().sql("select nextval('audit_log_id_seq')").query(Long.class).single();
		String text = next + "|" + AuditDatabase.HOST + "|||" + AuditTime.epochMicros(java.time.Instant.parse("2026-11-25T18:00:00Z"))
				+ "|created|x";
		byte[] right = AuditChainVerifier.hash(last, text);
		assertThatThrownBy(() -> db.jdbc().sql(insert).params(next, AuditDatabase.HOST, last, new byte[32]).update())
			.hasMessageContaining("hash does not match the row");
		assertThatThrownBy(() -> db.jdbc().sql(insert).params(next, AuditDatabase.HOST, new byte[32],
				AuditChainVerifier.hash(new byte[32], text)).update())
			.hasMessageContaining("prev_hash is not the hash of the previous row");
		long beyond = next + 1000;
		String beyondText = beyond + text.substring(Long.toString(next).length());
		assertThatThrownBy(() -> db.jdbc().sql(insert).params(beyond, AuditDatabase.HOST, last,
				AuditChainVerifier.hash(last, beyondText)).update())
			.hasMessageContaining("id not drawn from the sequence");
		assertThat(db.verifier().verify()).isEqualTo(new Verification(true, 3, null));
		db.jdbc().sql(insert).params(next, AuditDatabase.HOST, last, right).update();
		assertThat(db.verifier().verify()).isEqualTo(new Verification(true, 4, null));
	}

	/** A session row for audit rows to name (they reference sessions). */
	private long aSession() {
		long event = db.jdbc().sql("""
				insert into chain_events (host_id, contract, block_number, block_hash, tx_hash, log_index, kind, payload)
				values (?, 'c', 1, '0x1', '0x1', 0, 'RentalCreated', '{}') returning id""")
			.param(AuditDatabase.HOST).query(Long.class).single();
		return db.jdbc().sql("""
				insert into sessions (host_id, contract, rental_id, renter, state, starts_at, ends_at, created_event_id,
				                      key_source, created_at, confirmed_at)
				values (?, 'c', 1, '0xabc', 'ACTIVE', now(), now(), ?, 'RENTER', now(), now()) returning id""")
			.params(AuditDatabase.HOST, event).query(Long.class).single();
	}

}
