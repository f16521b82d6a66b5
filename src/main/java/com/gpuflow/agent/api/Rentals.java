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
 * The renter API's view of sessions, pending rentals and challenges. Every query is scoped to this
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

	record Challenge(long sessionId, String message) {
	}

	private static final String SESSION_COLUMNS = "id, rental_id, renter, state, starts_at, ends_at, key_source,"
			+ " sealed_private_key is not null as key_sealed, config_delivered_at, host(tunnel_ip) as tunnel_ip,"
			+ " pool_exhausted";

	/**
	 * The nonces of a session's open challenges beyond the newest n (parameters: session id, n),
	 * which issuing one more forgets.
	 */
	private static final String OLDEST_OPEN_BEYOND = "select nonce from challenges where session_id = ? and spent_at is null"
			+ " order by issue_order desc offset ?";

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
	 * Stores a new challenge and forgets the oldest open ones of the session beyond
	 * {@code openPerSession}, so a client asking again and again cannot grow the table without bound
	 * (a forgotten nonce is refused like an unknown one). One statement: the delete sees the rows
	 * from before the insert.
	 */
	void insertChallenge(String nonce, long sessionId, String message, Instant issuedAt, Instant expiresAt,
			int openPerSession) {
		jdbc.sql("""
				with issued as (
				    insert into challenges (nonce, host_id, session_id, message, issued_at, expires_at)
				    values (?, ?, ?, ?, ?, ?))
				delete from challenges where nonce in (%s)""".formatted(OLDEST_OPEN_BEYOND))
			.params(nonce, hostId, sessionId, message, timestamp(issuedAt), timestamp(expiresAt), sessionId,
					openPerSession - 1)
			.update();
	}

	/** The rental's live session (if any) and the challenge a spent nonce belonged to (if it was spendable). */
	record SpentAndSession(Optional<Challenge> challenge, Optional<Session> session) {
	}

	/**
	 * Spends a nonce if it is this host's, unspent and unexpired, and reads the rental's live
	 * session, in one statement (one round trip to PostgreSQL). The nonce is spent whether or not the
	 * rental exists (a data-modifying CTE always runs to completion), by one conditional update, so of
	 * any number of requests presenting one nonce exactly one gets the challenge back (a waiter
	 * re-reads the row after the first commits and finds it spent). {@code nonce} may be null:
	 * nothing is spent.
	 */
	SpentAndSession spendAndFindSession(String nonce, RentalId rentalId, Instant now) {
		return jdbc.sql("""
				with spent as (
				    update challenges set spent_at = ? where nonce = ? and host_id = ? and spent_at is null and expires_at > ?
				    returning session_id, message
				), live as (
				    select %s from sessions where host_id = ? and contract = ? and rental_id = ? and state <> 'REORGED_OUT'
				)
				select live.*, spent.session_id as challenge_session_id, spent.message as challenge_message
				from (select 1) as one left join live on true left join spent on true""".formatted(SESSION_COLUMNS))
			.params(timestamp(now), nonce, hostId, timestamp(now), hostId, contract, decimal(rentalId))
			.query((rs, n) -> {
				Optional<Session> session = rs.getObject("id") == null ? Optional.empty() : Optional.of(session(rs, n));
				String message = rs.getString("challenge_message");
				Optional<Challenge> challenge = message == null ? Optional.empty()
						: Optional.of(new Challenge(rs.getLong("challenge_session_id"), message));
				return new SpentAndSession(challenge, session);
			})
			.single();
	}

	/** The rental's live session (if any), and whether the challenge was stored for it. */
	record Issued(Optional<Session> session, boolean stored) {
	}

	/**
	 * Stores a challenge built for session {@code sessionId} only if that session is still the
	 * rental's live one and still usable (active, before its end), reading the session in the same
	 * statement: one round trip to PostgreSQL for the common case of a renter asking again. Like
	 * {@link #insertChallenge}, it forgets the session's oldest open challenges beyond {@code openPerSession}.
	 */
	Issued insertChallengeIfLive(RentalId rentalId, long sessionId, String nonce, String message, Instant issuedAt,
			Instant expiresAt, Instant now, int openPerSession) {
		return jdbc.sql("""
				with live as (
				    select %s from sessions where host_id = ? and contract = ? and rental_id = ? and state <> 'REORGED_OUT'
				), stored as (
				    insert into challenges (nonce, host_id, session_id, message, issued_at, expires_at)
				    select ?, ?, live.id, ?, ?, ? from live where live.id = ? and live.state = 'ACTIVE' and live.ends_at > ?
				    returning 1
				), forgotten as (
				    delete from challenges where exists (select 1 from stored) and nonce in (%s)
				)
				select live.*, (select count(*) from stored) as stored
				from (select 1) as one left join live on true""".formatted(SESSION_COLUMNS, OLDEST_OPEN_BEYOND))
			.params(hostId, contract, decimal(rentalId), nonce, hostId, message, timestamp(issuedAt), timestamp(expiresAt),
					sessionId, timestamp(now), sessionId, openPerSession - 1)
			.query((rs, n) -> new Issued(rs.getObject("id") == null ? Optional.empty() : Optional.of(session(rs, n)),
					rs.getLong("stored") == 1))
			.single();
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
