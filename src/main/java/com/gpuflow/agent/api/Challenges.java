package com.gpuflow.agent.api;

import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Optional;

import com.gpuflow.agent.config.AgentSettings;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Repository;

/**
 * The sign-in challenges issued to renters, scoped to this host since several agents may share one
 * database. Blocking: callers run it off the event loop.
 */
@Repository
class Challenges {

	/** A spent challenge: the session it was issued for and its exact text. */
	record Challenge(long sessionId, String message) {
	}

	/**
	 * The nonces of a session's open challenges beyond the newest n (parameters: session id, n),
	 * which issuing one more forgets.
	 */
	private static final String OLDEST_OPEN_BEYOND = "select nonce from challenges where session_id = ? and spent_at is null"
			+ " order by issue_order desc offset ?";

	private final JdbcClient jdbc;

	private final String hostId;

	Challenges(JdbcClient jdbc, AgentSettings settings) {
		this.jdbc = jdbc;
		this.hostId = settings.hostId();
	}

	/**
	 * Stores a new challenge and forgets the oldest open ones of the session beyond
	 * {@code openPerSession}, so a client asking again and again cannot grow the table without bound
	 * (a forgotten nonce is refused like an unknown one). One statement: the delete sees the rows
	 * from before the insert.
	 */
	void insert(String nonce, long sessionId, String message, Instant issuedAt, Instant expiresAt, int openPerSession) {
		jdbc.sql("""
				with issued as (
				    insert into challenges (nonce, host_id, session_id, message, issued_at, expires_at)
				    values (?, ?, ?, ?, ?, ?))
				delete from challenges where nonce in (%s)""".formatted(OLDEST_OPEN_BEYOND))
			.params(nonce, hostId, sessionId, message, timestamp(issuedAt), timestamp(expiresAt), sessionId,
					openPerSession - 1)
			.update();
	}

	/**
	 * Spends a nonce if it is this host's, unspent and unexpired, by one conditional update, so of
	 * any number of requests presenting one nonce exactly one gets the challenge back (a waiter
	 * re-reads the row after the first commits and finds it spent). {@code nonce} may be null:
	 * nothing is spent.
	 */
	Optional<Challenge> spend(String nonce, Instant now) {
		if (nonce == null) {
			return Optional.empty();
		}
		return jdbc.sql("""
				update challenges set spent_at = ? where nonce = ? and host_id = ? and spent_at is null and expires_at > ?
				returning session_id, message""")
			.params(timestamp(now), nonce, hostId, timestamp(now))
			.query((rs, n) -> new Challenge(rs.getLong("session_id"), rs.getString("message")))
			.optional();
	}

	private static OffsetDateTime timestamp(Instant instant) {
		return instant.atOffset(ZoneOffset.UTC);
	}

}
