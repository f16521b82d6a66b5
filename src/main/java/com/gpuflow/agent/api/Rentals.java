package com.gpuflow.agent.api;

import java.math.BigDecimal;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Optional;

import com.gpuflow.agent.config.AgentSettings;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Repository;

/**
 * The renter API's view of sessions and pending rentals. Every query is scoped to this
 * host and contract, since several agents may share one database. Blocking: callers run it off the
 * event loop.
 */
@Repository
class Rentals {

	record Session(long id, RentalId rentalId, String renter, String state, Instant startsAt, Instant endsAt,
			String keySource, boolean keySealed, Instant configDeliveredAt, String tunnelIp, boolean poolExhausted) {

		boolean generatedKey() {
			return "GENERATED".equals(keySource);
		}

	}

	record Pending(RentalId rentalId, String renter, Instant startsAt, Instant endsAt) {
	}

	private static final String SESSION_COLUMNS = "id, rental_id, renter, state, starts_at, ends_at, key_source,"
			+ " sealed_private_key is not null as key_sealed, config_delivered_at, host(tunnel_ip) as tunnel_ip,"
			+ " pool_exhausted";

	private final JdbcClient jdbc;

	private final String hostId;

	private final String contract;

	Rentals(JdbcClient jdbc, AgentSettings settings) {
		this.jdbc = jdbc;
		this.hostId = settings.hostId();
		this.contract = settings.rentalContract();
	}

	/** The live session of a rental; a session a reorganisation removed is not live. */
	Optional<Session> findSession(RentalId rentalId) {
		return jdbc
			.sql("select " + SESSION_COLUMNS + " from sessions where host_id = ? and contract = ? and rental_id = ?"
					+ " and state <> 'REORGED_OUT'")
			.params(hostId, contract, decimal(rentalId))
			.query(Rentals::session)
			.optional();
	}

	Optional<Pending> findPending(RentalId rentalId) {
		return jdbc
			.sql("select rental_id, renter, starts_at, ends_at from pending_rentals where host_id = ? and contract = ?"
					+ " and rental_id = ?")
			.params(hostId, contract, decimal(rentalId))
			.query((rs, n) -> new Pending(rentalId(rs), rs.getString("renter"), instant(rs, "starts_at"),
					instant(rs, "ends_at")))
			.optional();
	}

	/**
	 * Takes the sealed generated key out of an active session and destroys it, in one statement:
	 * the row lock makes concurrent claims wait, and a waiter re-reads the row, finds the key gone
	 * and claims nothing. Exactly one caller ever gets the key.
	 */
	Optional<byte[]> claimSealedKey(long sessionId, Instant now) {
		return jdbc.sql("""
				with claimed as (
				    select id, sealed_private_key from sessions
				    where id = ? and state = 'ACTIVE' and ends_at > ? and sealed_private_key is not null
				    for update
				)
				update sessions s
				set sealed_private_key = null, config_delivered_at = ?, key_destroyed_at = ?
				from claimed c
				where s.id = c.id
				returning c.sealed_private_key
				""")
			.params(sessionId, timestamp(now), timestamp(now), timestamp(now))
			.query((rs, n) -> rs.getBytes(1))
			.optional();
	}

	/** Records the first delivery of a renter-own-key config; false when it was delivered before. */
	boolean markFirstDelivery(long sessionId, Instant now) {
		return jdbc.sql("update sessions set config_delivered_at = ? where id = ? and config_delivered_at is null")
			.params(timestamp(now), sessionId)
			.update() == 1;
	}

	/** Locks an active, unexpired session for a key change. */
	Optional<Session> lockActive(long sessionId, Instant now) {
		return jdbc
			.sql("select " + SESSION_COLUMNS + " from sessions where id = ? and state = 'ACTIVE' and ends_at > ?"
					+ " for update")
			.params(sessionId, timestamp(now))
			.query(Rentals::session)
			.optional();
	}

	/**
	 * Gives a session a new agent-generated public key. Its private key is served in the same
	 * response and never stored, so any sealed key left is destroyed here.
	 */
	void replaceKey(long sessionId, String publicKey, boolean destroysSealedKey, Instant now) {
		jdbc.sql("update sessions set key_source = 'GENERATED', peer_public_key = ?, sealed_private_key = null,"
				+ " config_delivered_at = ?, key_destroyed_at = case when ? then ? else key_destroyed_at end where id = ?")
			.params(publicKey, timestamp(now), destroysSealedKey, timestamp(now), sessionId)
			.update();
	}

	private static Session session(ResultSet rs, int row) throws SQLException {
		return new Session(rs.getLong("id"), rentalId(rs), rs.getString("renter"), rs.getString("state"),
				instant(rs, "starts_at"), instant(rs, "ends_at"), rs.getString("key_source"), rs.getBoolean("key_sealed"),
				instant(rs, "config_delivered_at"), rs.getString("tunnel_ip"), rs.getBoolean("pool_exhausted"));
	}

	private static RentalId rentalId(ResultSet rs) throws SQLException {
		return new RentalId(rs.getBigDecimal("rental_id").toBigIntegerExact());
	}

	private static Instant instant(ResultSet rs, String column) throws SQLException {
		OffsetDateTime value = rs.getObject(column, OffsetDateTime.class);
		return value == null ? null : value.toInstant();
	}

	private static OffsetDateTime timestamp(Instant instant) {
		return instant.atOffset(ZoneOffset.UTC);
	}

	private static BigDecimal decimal(RentalId id) {
		return new BigDecimal(id.value());
	}

}
