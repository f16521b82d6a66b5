package com.gpuflow.agent.rental;

import java.math.BigDecimal;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.function.Function;

import com.gpuflow.agent.audit.AuditLog;
import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.config.ConnectionSettings;
import com.gpuflow.agent.rental.ConnectionRules.Change;
import com.gpuflow.agent.rental.ConnectionRules.Connection;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;

/**
 * The connection columns of {@code sessions}: reads them, asks {@link ConnectionRules}, writes the
 * result and its audit lines. Runs in the caller's transaction, which holds the audit chain lock.
 * The metrics count only what committed.
 */
@Component
class SessionConnections {

	/** The connection of a session row; {@code setup_from} follows the key source (see V37). */
	private static final String COLUMNS = "id, rental_id, connection_state,"
			+ " case when key_source = 'GENERATED' then config_delivered_at else peer_added_at end as setup_from,"
			+ " first_handshake_at, last_handshake_at, connected_since, connected_seconds, drops, setup_seconds,"
			+ " setup_outcome";

	/** Same expression as the index sessions_setup_pending, so the planner can use it. */
	private static final String SETUP_FROM = "(case when key_source = 'GENERATED' then config_delivered_at else peer_added_at end)";

	private final JdbcClient jdbc;

	private final AuditLog audit;

	private final String hostId;

	private final Duration lostAfter;

	private final Timer setup;

	private final Counter established;

	private final Counter notEstablished;

	private final Counter drops;

	SessionConnections(JdbcClient jdbc, AuditLog audit, AgentSettings settings, ConnectionSettings connection,
			MeterRegistry meters) {
		this.jdbc = jdbc;
		this.audit = audit;
		this.hostId = settings.hostId();
		this.lostAfter = connection.lostAfter();
		this.setup = Timer.builder("gpuflow.tunnel.setup")
			.description("Config delivered (or peer live for a renter's own key) to the first handshake")
			.publishPercentileHistogram()
			.serviceLevelObjectives(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(30),
					Duration.ofSeconds(60))
			.minimumExpectedValue(Duration.ofMillis(100))
			.maximumExpectedValue(Duration.ofMinutes(10))
			.register(meters);
		this.established = Counter.builder("gpuflow.tunnels.established")
			.description("Setups with a first handshake within 60 s")
			.register(meters);
		this.notEstablished = Counter.builder("gpuflow.tunnels.not.established")
			.description("Setups with no handshake within 60 s of the config's delivery (or the peer going live)")
			.register(meters);
		this.drops = Counter.builder("gpuflow.connection.drops")
			.description("Connected peers whose latest handshake became older than GPUFLOW_CONNECTION_LOST_AFTER")
			.register(meters);
	}

	Duration lostAfter() {
		return lostAfter;
	}

	/** The sessions of these peers were just observed (handshake and counters already stored). */
	void observed(Collection<String> publicKeys, Instant now) {
		if (publicKeys.isEmpty()) {
			return;
		}
		apply(jdbc.sql("select " + COLUMNS + " from sessions where host_id = ? and peer_public_key = any(?)"
				+ " and state = 'ACTIVE' for update")
			.params(hostId, publicKeys.toArray(String[]::new))
			.query(SessionConnections::row)
			.list(), connection -> ConnectionRules.observed(connection, now, lostAfter));
	}

	/** These sessions' peers just became live: a connection with no state yet waits for its handshake. */
	void peersLive(Collection<Long> sessionIds, Instant now) {
		apply(rows(sessionIds), ConnectionRules::peerLive);
	}

	/** These sessions' peers just left the interface. */
	void peersGone(Collection<Long> sessionIds, Instant now) {
		apply(rows(sessionIds), connection -> ConnectionRules.peerGone(connection, now));
	}

	/** Whether some connection is due to be judged lost or not established: most passes find none. */
	boolean anythingAged(Instant now) {
		return jdbc.sql("""
				select exists (select 1 from sessions where host_id = ? and connection_state = 'connected'
				                 and last_handshake_at < ? and state = 'ACTIVE')
				    or exists (select 1 from sessions where host_id = ? and state = 'ACTIVE' and setup_outcome is null
				                 and first_handshake_at is null and""" + " " + SETUP_FROM + " <= ?)")
			.params(hostId, Timestamp.from(now.minus(lostAfter)), hostId,
					Timestamp.from(now.minus(ConnectionRules.SETUP_DEADLINE)))
			.query(Boolean.class)
			.single();
	}

	/** Judges the connections that time alone changes (see {@link ConnectionRules#aged}). */
	void aged(Instant now) {
		apply(jdbc.sql("select " + COLUMNS + " from sessions where host_id = ? and state = 'ACTIVE' and ("
				+ "(connection_state = 'connected' and last_handshake_at < ?)"
				+ " or (setup_outcome is null and first_handshake_at is null and " + SETUP_FROM + " <= ?))"
				+ " for update skip locked")
			.params(hostId, Timestamp.from(now.minus(lostAfter)), Timestamp.from(now.minus(ConnectionRules.SETUP_DEADLINE)))
			.query(SessionConnections::row)
			.list(), connection -> ConnectionRules.aged(connection, now, lostAfter));
	}

	private List<Row> rows(Collection<Long> sessionIds) {
		if (sessionIds.isEmpty()) {
			return List.of();
		}
		return jdbc.sql("select " + COLUMNS + " from sessions where id = any(?) for update")
			.param(sessionIds.toArray(Long[]::new))
			.query(SessionConnections::row)
			.list();
	}

	/**
	 * Applies {@code rule} to each row: its own update where the row changes, and the audit lines of
	 * all rows in one append (one chain-lock round and one insert, not one per session: a pass that
	 * adds 60 peers under load otherwise held the next pass for a second).
	 */
	private void apply(List<Row> rows, Function<Connection, Change> rule) {
		List<AuditLog.Entry> entries = new ArrayList<>();
		for (Row row : rows) {
			apply(row, rule.apply(row.connection()), entries);
		}
		if (!entries.isEmpty()) {
			audit.appendAll(entries);
		}
	}

	private void apply(Row row, Change change, List<AuditLog.Entry> entries) {
		Connection next = change.next();
		if (change.changesRow(row.connection())) {
			jdbc.sql("""
					update sessions set connection_state = ?, connected_since = ?, connected_seconds = ?, drops = ?,
					       setup_seconds = ?, setup_outcome = ?
					where id = ?""")
				.params(next.state() == null ? null : next.state().code(), ts(next.connectedSince()),
						next.connectedSeconds(), next.drops(), next.setupSeconds(),
						next.setupOutcome() == null ? null : next.setupOutcome().code(), row.id())
				.update();
		}
		for (SessionRules.Note note : change.notes()) {
			entries.add(new AuditLog.Entry(row.id(), row.rentalId().toBigIntegerExact(), note.kind(), note.detail()));
		}
		if (change.setup().isPresent() || change.notEstablished() || change.dropped()) {
			afterCommit(() -> {
				// A late first handshake still shows in the histogram, though not as established.
				change.setup().ifPresent(setup::record);
				if (change.established()) {
					established.increment();
				}
				if (change.notEstablished()) {
					notEstablished.increment();
				}
				if (change.dropped()) {
					drops.increment();
				}
			});
		}
	}

	/** Metrics count what committed; outside a transaction (tests) at once. */
	private void afterCommit(Runnable action) {
		if (!TransactionSynchronizationManager.isSynchronizationActive()) {
			action.run();
			return;
		}
		TransactionSynchronizationManager.registerSynchronization(new TransactionSynchronization() {
			@Override
			public void afterCommit() {
				action.run();
			}
		});
	}

	private record Row(long id, BigDecimal rentalId, Connection connection) {
	}

	private static Row row(ResultSet rs, int n) throws SQLException {
		double setupSeconds = rs.getDouble("setup_seconds");
		Double setup = rs.wasNull() ? null : setupSeconds;
		return new Row(rs.getLong("id"), rs.getBigDecimal("rental_id"),
				new Connection(ConnectionRules.State.of(rs.getString("connection_state")),
						SessionRows.instant(rs, "setup_from"), SessionRows.instant(rs, "first_handshake_at"),
						SessionRows.instant(rs, "last_handshake_at"), SessionRows.instant(rs, "connected_since"),
						rs.getDouble("connected_seconds"), rs.getInt("drops"), setup,
						ConnectionRules.SetupOutcome.of(rs.getString("setup_outcome"))));
	}

	private static Timestamp ts(Instant instant) {
		return instant == null ? null : Timestamp.from(instant);
	}

}
