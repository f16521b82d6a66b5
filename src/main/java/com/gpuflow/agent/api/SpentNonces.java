package com.gpuflow.agent.api;

import java.time.Instant;
import java.time.ZoneOffset;

import com.gpuflow.agent.config.AgentSettings;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Repository;

/**
 * The sign-in nonces that were presented, kept until they expire: the only thing about challenges
 * the agent stores. Issuing stores nothing (see {@link ChallengeNonce}); only a request presenting an
 * authentic, unexpired nonce writes a row here, so the table grows with sign-ins, not with asking.
 * Owns the table {@code spent_nonces}.
 */
@Repository
class SpentNonces {

	private final JdbcClient jdbc;

	private final String hostId;

	SpentNonces(JdbcClient jdbc, AgentSettings settings) {
		this.jdbc = jdbc;
		this.hostId = settings.hostId();
	}

	/**
	 * Spends a nonce: of any number of requests presenting it, concurrent or not, exactly one is
	 * told true (the primary key decides).
	 */
	boolean spend(String nonce, Instant expiresAt) {
		return jdbc.sql("insert into spent_nonces (nonce, host_id, expires_at) values (?, ?, ?) on conflict do nothing")
			.params(nonce, hostId, expiresAt.atOffset(ZoneOffset.UTC))
			.update() == 1;
	}

	/** Forgets nonces that expired before {@code before}: an expired nonce is refused anyway. */
	int purgeExpiredBefore(Instant before) {
		return jdbc.sql("delete from spent_nonces where host_id = ? and expires_at < ?")
			.params(hostId, before.atOffset(ZoneOffset.UTC))
			.update();
	}

}
