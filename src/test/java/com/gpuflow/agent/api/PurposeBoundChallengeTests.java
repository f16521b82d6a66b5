package com.gpuflow.agent.api;

import java.time.Duration;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.web3j.crypto.Keys;

import org.springframework.beans.factory.annotation.Autowired;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * Challenges cost nothing to ask for and say what they authorise: asking stores nothing and
 * forgets nothing, each route accepts only a challenge of its own purpose, and only a spent nonce
 * is kept, until it expires.
 */
class PurposeBoundChallengeTests extends RenterApiTestSupport {

	@Autowired
	ChallengeJanitor janitor;

	@Autowired
	RenterService service;

	@Test
	void askingAgainAndAgainStoresNothingAndForgetsNoOpenChallenge() {
		Fixture fixture = session(KeySource.RENTER);
		String first = challenge(fixture);
		String database = databaseState();
		List<String> more = new ArrayList<>();
		for (int i = 0; i < 300; i++) {
			more.add(challenge(fixture));
		}
		assertThat(databaseState()).as("what 300 challenges left in the database").isEqualTo(database);
		assertThat(more).doesNotHaveDuplicates().doesNotContain(first);
		post(fixture.path("/config"), signedBy(RENTER, first)).expectStatus().isOk();
		post(fixture.path("/config"), signedBy(RENTER, more.get(150))).expectStatus().isOk();
		post(fixture.path("/config"), signedBy(RENTER, more.get(299))).expectStatus().isOk();
	}

	@Test
	void theMessageNamesTheRentalAndThePurposeAsResources() {
		Fixture fixture = session(KeySource.RENTER);
		String config = challenge(fixture.rentalId(), Purpose.CONFIG);
		assertThat(config).endsWith("Resources:\n- urn:gpuflow:rental:" + hostId + ":" + fixture.rentalId()
				+ "\n- urn:gpuflow:purpose:config");
		assertThat(challenge(fixture.rentalId(), Purpose.REKEY)).endsWith("\n- urn:gpuflow:purpose:rekey");
		assertThat(challenge(fixture.rentalId(), Purpose.SSH_KEYS)).endsWith("\n- urn:gpuflow:purpose:ssh-keys");
		SiweMessage parsed = SiweMessage.parse(config);
		assertThat(parsed.nonce()).hasSize(ChallengeNonce.LENGTH);
		assertThat(parsed.expirationTime()).contains(parsed.issuedAt().plus(RenterService.CHALLENGE_VALIDITY));
	}

	@Test
	void aConfigSignatureSentToRekeyIs401AndSpentAndChangesNoKey() {
		Fixture fixture = session(KeySource.GENERATED);
		Map<String, String> configBody = signedBody(fixture, Purpose.CONFIG);
		String before = sessionsSnapshot();
		post(fixture.path("/rekey"), configBody).expectStatus().isUnauthorized().expectBody().jsonPath("$.error")
			.isEqualTo("invalid_challenge");
		assertThat(sessionsSnapshot()).isEqualTo(before);
		assertThat(auditKinds(fixture)).isEmpty();
		// presented once, spent: it no longer fetches the config either
		post(fixture.path("/config"), configBody).expectStatus().isUnauthorized();
		post(fixture.path("/config"), signedBody(fixture, Purpose.CONFIG)).expectStatus().isOk();
	}

	@Test
	void aRekeyOrSshKeysSignatureSentToConfigIs401() {
		Fixture fixture = session(KeySource.GENERATED);
		post(fixture.path("/config"), signedBody(fixture, Purpose.REKEY)).expectStatus().isUnauthorized();
		post(fixture.path("/config"), signedBody(fixture, Purpose.SSH_KEYS)).expectStatus().isUnauthorized();
		assertThat(auditKinds(fixture)).isEmpty();
		post(fixture.path("/rekey"), signedBody(fixture, Purpose.REKEY)).expectStatus().isOk();
	}

	@Test
	void theAuthorizeFaceChecksThePurposeForOtherRoutes() {
		Fixture fixture = session(KeySource.RENTER);
		RentalId id = new RentalId(fixture.rentalId());
		String sshKeys = challenge(fixture.rentalId(), Purpose.SSH_KEYS);
		assertThat(service.authorize(id, Purpose.SSH_KEYS, sshKeys, Signatures.personalSign(RENTER, sshKeys)).id())
			.isEqualTo(fixture.sessionId());
		String config = challenge(fixture.rentalId(), Purpose.CONFIG);
		ApiProblem refused = catchThrowableOfType(ApiProblem.class,
				() -> service.authorize(id, Purpose.SSH_KEYS, config, Signatures.personalSign(RENTER, config)));
		assertThat(refused.status().value()).isEqualTo(401);
	}

	@Test
	void anUnknownPurposeIs400() {
		Fixture fixture = session(KeySource.RENTER);
		web.post().uri(fixture.path("/challenge?purpose=admin")).exchange().expectStatus().isBadRequest()
			.expectBody().jsonPath("$.error").isEqualTo("bad_request");
		web.post().uri(fixture.path("/challenge?purpose=config&purpose=rekey")).exchange().expectStatus().isBadRequest();
	}

	@Test
	void aChallengeIssuedBeforeAnotherRenterTookTheRentalIdDoesNotSignIn() {
		Fixture fixture = session(KeySource.RENTER);
		String message = challenge(fixture);
		String forStranger = message.replace(Keys.toChecksumAddress(RENTER.getAddress()),
				Keys.toChecksumAddress(STRANGER.getAddress()));
		post(fixture.path("/config"), signedBy(STRANGER, forStranger)).expectStatus().isUnauthorized();
	}

	@Test
	void theJanitorForgetsSpentNoncesOnlyAfterTheyExpired() {
		Fixture old = session(KeySource.RENTER);
		post(old.path("/config"), signedBody(old)).expectStatus().isOk();
		clock.advance(RenterService.CHALLENGE_VALIDITY.plus(ChallengeJanitor.GRACE).plusSeconds(1));
		Fixture recent = session(KeySource.RENTER);
		Map<String, String> spentRecently = signedBody(recent);
		post(recent.path("/config"), spentRecently).expectStatus().isOk();
		long before = spentNonces();

		int deleted = janitor.purgeExpired();

		assertThat(deleted).isGreaterThanOrEqualTo(1);
		assertThat(spentNonces()).isEqualTo(before - deleted);
		assertThat(jdbc.sql("select count(*) from spent_nonces where expires_at > ?")
			.param(clock.instant().atOffset(ZoneOffset.UTC)).query(Long.class).single()).isGreaterThanOrEqualTo(1);
		// the recent one is still spent
		post(recent.path("/config"), spentRecently).expectStatus().isUnauthorized();
	}

	@Test
	void aGeneratedKeyThatCouldNotBeKeptIs503UnavailableNotAlreadyDelivered() {
		Fixture fixture = session(KeySource.GENERATED);
		// what the ingester stores when GPUFLOW_KEY_ENCRYPTION_KEY is unset: no key, never delivered
		jdbc.sql("update sessions set sealed_private_key = null, peer_public_key = null where id = ?")
			.param(fixture.sessionId()).update();
		post(fixture.path("/config"), signedBody(fixture)).expectStatus().isEqualTo(503).expectBody()
			.jsonPath("$.error").isEqualTo("unavailable");
		// a rekey serves a new key without keeping one
		post(fixture.path("/rekey"), signedBody(fixture, Purpose.REKEY)).expectStatus().isOk();
	}

	@Test
	void aChallengeExpiresFiveMinutesAfterItWasIssued() {
		Fixture fixture = session(KeySource.RENTER);
		Map<String, String> justInTime = signedBody(fixture);
		Map<String, String> late = signedBody(fixture);
		clock.advance(Duration.ofMinutes(5).minusSeconds(2));
		post(fixture.path("/config"), justInTime).expectStatus().isOk();
		clock.advance(Duration.ofSeconds(3));
		post(fixture.path("/config"), late).expectStatus().isUnauthorized();
	}

	private long spentNonces() {
		return jdbc.sql("select count(*) from spent_nonces").query(Long.class).single();
	}

	private String databaseState() {
		return sessionsSnapshot() + auditSnapshot() + spentNonces();
	}

}
