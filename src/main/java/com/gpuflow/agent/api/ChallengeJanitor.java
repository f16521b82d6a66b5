package com.gpuflow.agent.api;

import java.time.Clock;
import java.time.Duration;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

/**
 * Forgets this host's spent nonces once they expired: an expired nonce is refused whether its row is
 * there or not (401 either way), so keeping it only grows the table. The grace period covers a
 * clock that is stepped back a little.
 */
@Component
class ChallengeJanitor {

	static final Duration GRACE = Duration.ofMinutes(10);

	private static final Logger log = LoggerFactory.getLogger(ChallengeJanitor.class);

	private final SpentNonces spent;

	private final Clock clock;

	ChallengeJanitor(SpentNonces spent, Clock clock) {
		this.spent = spent;
		this.clock = clock;
	}

	@Scheduled(initialDelayString = "${gpuflow.challenges.purge-ms:60000}",
			fixedDelayString = "${gpuflow.challenges.purge-ms:60000}")
	void purgeOnSchedule() {
		try {
			purgeExpired();
		}
		catch (RuntimeException databaseAway) {
			log.debug("spent nonce purge skipped: {}", databaseAway.getMessage());
		}
	}

	/** @return how many rows were deleted */
	int purgeExpired() {
		int deleted = spent.purgeExpiredBefore(clock.instant().minus(GRACE));
		if (deleted > 0) {
			log.debug("forgot {} expired spent nonces", deleted);
		}
		return deleted;
	}

}
