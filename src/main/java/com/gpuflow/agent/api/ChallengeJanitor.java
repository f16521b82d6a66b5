package com.gpuflow.agent.api;

import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;

import com.gpuflow.agent.config.AgentSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

/**
 * Deletes this host's challenges once they can no longer be used: a nonce that expired is refused
 * whether its row is there or not (401 either way), so keeping it only grows the table. A grace
 * period after expiry keeps the rows of recent sign-ins for whoever investigates them.
 */
@Component
class ChallengeJanitor {

	static final Duration GRACE = Duration.ofHours(1);

	private static final Logger log = LoggerFactory.getLogger(ChallengeJanitor.class);

	private final JdbcClient jdbc;

	private final String hostId;

	private final Clock clock;

	ChallengeJanitor(JdbcClient jdbc, AgentSettings settings, Clock clock) {
		this.jdbc = jdbc;
		this.hostId = settings.hostId();
		this.clock = clock;
	}

	@Scheduled(initialDelayString = "${gpuflow.challenges.purge-ms:60000}",
			fixedDelayString = "${gpuflow.challenges.purge-ms:60000}")
	void purgeOnSchedule() {
		try {
			purgeExpired();
		}
		catch (RuntimeException databaseAway) {
			log.debug("challenge purge skipped: {}", databaseAway.getMessage());
		}
	}

	/** @return how many rows were deleted */
	int purgeExpired() {
		Timestamp before = Timestamp.from(clock.instant().minus(GRACE));
		int deleted = jdbc.sql("delete from challenges where host_id = ? and expires_at < ?")
			.params(hostId, before)
			.update();
		if (deleted > 0) {
			log.info("purged {} expired sign-in challenges", deleted);
		}
		return deleted;
	}

}
