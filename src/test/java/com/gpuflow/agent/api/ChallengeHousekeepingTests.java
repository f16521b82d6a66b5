package com.gpuflow.agent.api;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.annotation.Autowired;

import static org.assertj.core.api.Assertions.assertThat;

/** The challenges table stays bounded: per session by issuing, over time by the janitor. */
class ChallengeHousekeepingTests extends RenterApiTestSupport {

	@Autowired
	ChallengeJanitor janitor;

	@Test
	void askingAgainAndAgainKeepsOnlyTheNewestOpenChallengesOfASession() {
		Fixture fixture = session(KeySource.RENTER);
		List<String> messages = new ArrayList<>();
		for (int i = 0; i < RenterService.OPEN_CHALLENGES_PER_SESSION + 5; i++) {
			messages.add(challenge(fixture));
		}
		assertThat(openChallenges(fixture)).isEqualTo(RenterService.OPEN_CHALLENGES_PER_SESSION);

		// the newest still works, the first one was forgotten and is refused like an unknown nonce
		String newest = messages.get(messages.size() - 1);
		post(fixture.path("/config"), signedBy(RENTER, newest))
			.expectStatus().isOk();
		String first = messages.get(0);
		post(fixture.path("/config"), signedBy(RENTER, first))
			.expectStatus().isUnauthorized();
	}

	@Test
	void theJanitorDeletesChallengesAnHourAfterTheyExpiredAndNothingNewer() {
		Fixture old = session(KeySource.RENTER);
		challenge(old);
		Map<String, String> spentOld = signedBody(old);
		post(old.path("/config"), spentOld).expectStatus().isOk();
		clock.advance(RenterService.CHALLENGE_VALIDITY.plus(ChallengeJanitor.GRACE).plusSeconds(1));
		Fixture recent = session(KeySource.RENTER);
		Map<String, String> stillValid = signedBody(recent);

		int deleted = janitor.purgeExpired();

		assertThat(deleted).isGreaterThanOrEqualTo(2);
		assertThat(rows(old)).isZero();
		assertThat(rows(recent)).isEqualTo(1);
		post(recent.path("/config"), stillValid).expectStatus().isOk();
	}

	private long openChallenges(Fixture fixture) {
		return jdbc.sql("select count(*) from challenges where session_id = ? and spent_at is null")
			.param(fixture.sessionId())
			.query(Long.class)
			.single();
	}

	private long rows(Fixture fixture) {
		return jdbc.sql("select count(*) from challenges where session_id = ?")
			.param(fixture.sessionId())
			.query(Long.class)
			.single();
	}

}
