package com.gpuflow.agent.ops;

import java.time.Instant;
import java.util.Optional;

import org.junit.jupiter.api.Test;

import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.Status;

import static org.assertj.core.api.Assertions.assertThat;

class ChainHealthTest {

	static final Instant START = Instant.parse("2026-11-25T18:00:00Z");

	static Health assess(long lag, Optional<Instant> lastSuccess, Instant now) {
		return new ChainHealth(100 + lag, 100, lag, lastSuccess, Optional.empty()).assess(now, START, 2);
	}

	@Test
	void upWhileRecentPollsKeepTheCheckpointWithinConfirmationsPlusTwenty() {
		Health health = assess(22, Optional.of(START.plusSeconds(40)), START.plusSeconds(60));
		assertThat(health.getStatus()).isEqualTo(Status.UP);
		assertThat(health.getDetails()).containsEntry("head", 122L)
			.containsEntry("checkpoint", 100L)
			.containsEntry("lag", 22L)
			.containsEntry("maxLag", 22L)
			.containsEntry("lastSuccess", "2026-11-25T18:00:40Z");
	}

	@Test
	void downWhenTheCheckpointFallsMoreThanConfirmationsPlusTwentyBehind() {
		Health health = assess(23, Optional.of(START.plusSeconds(59)), START.plusSeconds(60));
		assertThat(health.getStatus()).isEqualTo(Status.DOWN);
		assertThat((String) health.getDetails().get("reason")).contains("23 blocks behind");
	}

	@Test
	void downWhenNoPollSucceededForThirtySeconds() {
		assertThat(assess(0, Optional.of(START.plusSeconds(10)), START.plusSeconds(40)).getStatus()).isEqualTo(Status.UP);
		Health stale = assess(0, Optional.of(START.plusSeconds(10)), START.plusSeconds(41));
		assertThat(stale.getStatus()).isEqualTo(Status.DOWN);
		assertThat((String) stale.getDetails().get("reason")).contains("no successful poll for 31 s");
	}

	@Test
	void unknownRightAfterStartAndDownWhenTheFirstPollNeverCame() {
		assertThat(assess(-1, Optional.empty(), START.plusSeconds(5)).getStatus()).isEqualTo(Status.UNKNOWN);
		assertThat(assess(-1, Optional.empty(), START.plusSeconds(31)).getStatus()).isEqualTo(Status.DOWN);
	}

	@Test
	void theLastErrorIsShown() {
		Health health = new ChainHealth(5, 3, 2, Optional.of(START), Optional.of("chain node: connection refused"))
			.assess(START.plusSeconds(1), START, 2);
		assertThat(health.getDetails()).containsEntry("lastError", "chain node: connection refused");
	}

}
