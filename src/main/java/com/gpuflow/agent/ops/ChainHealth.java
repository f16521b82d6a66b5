package com.gpuflow.agent.ops;

import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.Status;

/**
 * The verdict of the {@code chain} health component, without I/O. Down when no poll has succeeded
 * for {@link #STALE_AFTER} (node or database unreachable, or the poller stuck), or when the
 * checkpoint trails the head by more than the confirmations plus {@link #LAG_ALLOWANCE} blocks
 * (falling behind, or still backfilling). Right after start a missing first poll is only unknown.
 */
record ChainHealth(long head, long checkpoint, long lag, Optional<Instant> lastSuccess, Optional<String> lastError) {

	static final Duration STALE_AFTER = Duration.ofSeconds(30);

	static final int LAG_ALLOWANCE = 20;

	Health assess(Instant now, Instant startedAt, int confirmations) {
		long maxLag = (long) confirmations + LAG_ALLOWANCE;
		Map<String, Object> details = new LinkedHashMap<>();
		details.put("head", head);
		details.put("checkpoint", checkpoint);
		details.put("lag", lag);
		details.put("maxLag", maxLag);
		details.put("lastSuccess", lastSuccess.map(Instant::toString).orElse(null));
		lastError.ifPresent(error -> details.put("lastError", error));
		Status status;
		if (lastSuccess.isEmpty()) {
			boolean starting = Duration.between(startedAt, now).compareTo(STALE_AFTER) < 0;
			status = starting ? Status.UNKNOWN : Status.DOWN;
			details.put("reason", starting ? "starting: no poll yet" : "no successful poll since start");
		}
		else if (Duration.between(lastSuccess.get(), now).compareTo(STALE_AFTER) > 0) {
			status = Status.DOWN;
			details.put("reason", "no successful poll for " + Duration.between(lastSuccess.get(), now).toSeconds() + " s");
		}
		else if (lag > maxLag) {
			status = Status.DOWN;
			details.put("reason", "checkpoint " + lag + " blocks behind the head (more than " + maxLag + ")");
		}
		else {
			status = Status.UP;
		}
		return Health.status(status).withDetails(details).build();
	}

}
