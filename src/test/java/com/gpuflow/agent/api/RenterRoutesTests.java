package com.gpuflow.agent.api;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.rental.SessionsChanged;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;

import static org.assertj.core.api.Assertions.assertThat;

class RenterRoutesTests extends RenterApiTestSupport {

	@Test
	void rentalShowsStateAndTimesInIsoUtc() {
		Fixture fixture = session(KeySource.RENTER);
		Map<?, ?> body = web.get().uri(fixture.path("")).exchange().expectStatus().isOk().expectBody(Map.class)
			.returnResult().getResponseBody();
		assertThat(body.get("rentalId")).isEqualTo(fixture.rentalId().intValueExact());
		assertThat(body.get("state")).isEqualTo("ACTIVE");
		assertThat((String) body.get("startsAt")).matches("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z");
		assertThat(body.get("endsAt")).isEqualTo(clock.instant().plus(Duration.ofHours(1)).toString());
	}

	@Test
	void idsAboveTwoToThe53AreJsonStrings() {
		BigInteger big = BigInteger.ONE.shiftLeft(200).add(BigInteger.valueOf(nextRentalId().longValue()));
		session(big, KeySource.RENTER, "ACTIVE", clock.instant().plusSeconds(3600), RENTER.getAddress());
		web.get().uri("/v1/rentals/" + big).exchange().expectStatus().isOk().expectBody()
			.jsonPath("$.rentalId").isEqualTo(big.toString());
	}

	@Test
	void aRentalPastItsEndByTheAgentsClockIsExpiredEvenBeforeTheReconcilerMarksIt() {
		Fixture fixture = session(KeySource.RENTER);
		clock.advance(Duration.ofHours(2));
		web.get().uri(fixture.path("")).exchange().expectBody().jsonPath("$.state").isEqualTo("EXPIRED");
		web.post().uri(fixture.path("/challenge")).exchange().expectStatus().isEqualTo(410).expectBody()
			.jsonPath("$.error").isEqualTo("expired");
	}

	@Test
	void aPendingRentalIsShownAsPendingAndRefusedWith409() {
		BigInteger rentalId = pendingRental();
		web.get().uri("/v1/rentals/" + rentalId).exchange().expectStatus().isOk().expectBody()
			.jsonPath("$.state").isEqualTo("PENDING");
		web.post().uri("/v1/rentals/" + rentalId + "/challenge").exchange().expectStatus().isEqualTo(409).expectBody()
			.jsonPath("$.error").isEqualTo("not_active");
		post("/v1/rentals/" + rentalId + "/config", Map.of("message", "m", "signature", "0x00"))
			.expectStatus().isEqualTo(409);
	}

	@Test
	void unknownAndReorgedOutRentalsAre404OnEveryRoute() {
		BigInteger unknown = nextRentalId();
		BigInteger reorged = nextRentalId();
		session(reorged, KeySource.RENTER, "REORGED_OUT", clock.instant().plusSeconds(3600), RENTER.getAddress());
		for (BigInteger id : new BigInteger[] { unknown, reorged }) {
			web.get().uri("/v1/rentals/" + id).exchange().expectStatus().isNotFound().expectBody()
				.jsonPath("$.error").isEqualTo("not_found").jsonPath("$.message").isNotEmpty();
			web.post().uri("/v1/rentals/" + id + "/challenge").exchange().expectStatus().isNotFound();
			post("/v1/rentals/" + id + "/config", Map.of("message", "m", "signature", "0x")).expectStatus().isNotFound();
			post("/v1/rentals/" + id + "/rekey", Map.of("message", "m", "signature", "0x")).expectStatus().isNotFound();
		}
	}

	@Test
	void endedAndExpiredRentalsAre410WithTheirReason() {
		Fixture ended = session(nextRentalId(), KeySource.GENERATED, "ENDED", clock.instant().plusSeconds(3600),
				RENTER.getAddress());
		Fixture expired = session(nextRentalId(), KeySource.RENTER, "EXPIRED", clock.instant().minusSeconds(1),
				RENTER.getAddress());
		web.post().uri(ended.path("/challenge")).exchange().expectStatus().isEqualTo(410).expectBody()
			.jsonPath("$.error").isEqualTo("ended");
		post(ended.path("/config"), Map.of("message", "m", "signature", "0x")).expectStatus().isEqualTo(410)
			.expectBody().jsonPath("$.error").isEqualTo("ended");
		post(expired.path("/rekey"), Map.of("message", "m", "signature", "0x")).expectStatus().isEqualTo(410)
			.expectBody().jsonPath("$.error").isEqualTo("expired");
		web.get().uri(ended.path("")).exchange().expectBody().jsonPath("$.state").isEqualTo("ENDED");
	}

	@Test
	void aGeneratedKeyConfigIsServedOnceThenGoneAndItsKeyDestroyed() {
		Fixture fixture = session(KeySource.GENERATED);
		String config = post(fixture.path("/config"), signedBody(fixture)).expectStatus().isOk()
			.expectHeader().contentTypeCompatibleWith(MediaType.TEXT_PLAIN)
			.expectHeader().valueEquals(HttpHeaders.CONTENT_DISPOSITION,
					"attachment; filename=\"gpuflow-" + fixture.rentalId() + ".conf\"")
			.expectHeader().valueEquals(HttpHeaders.CACHE_CONTROL, "no-store")
			.expectBody(String.class).returnResult().getResponseBody();
		String serverKey = serverPublicKey();
		assertThat(config).isEqualTo("""
				[Interface]
				PrivateKey = %s
				Address = %s/32

				[Peer]
				PublicKey = %s
				Endpoint = 127.0.0.1:51820
				AllowedIPs = 10.77.0.1/32
				PersistentKeepalive = 25
				""".formatted(fixture.privateKey(), fixture.tunnelIp(), serverKey));
		assertThat(jdbc.sql("select sealed_private_key is null and config_delivered_at is not null"
				+ " and key_destroyed_at is not null from sessions where id = ?").param(fixture.sessionId())
			.query(Boolean.class).single()).isTrue();
		assertThat(auditKinds(fixture)).containsExactly("config_delivered", "key_destroyed");

		post(fixture.path("/config"), signedBody(fixture)).expectStatus().isEqualTo(410).expectBody()
			.jsonPath("$.error").isEqualTo("already_delivered");
		assertThat(auditKinds(fixture)).containsExactly("config_delivered", "key_destroyed");
	}

	@Test
	void aRenterOwnKeyConfigCarriesThePlaceholderAndCanBeFetchedAgain() {
		Fixture fixture = session(KeySource.RENTER);
		for (int i = 0; i < 2; i++) {
			post(fixture.path("/config"), signedBody(fixture)).expectStatus().isOk().expectBody(String.class)
				.value(config -> assertThat(config).contains("PrivateKey = <your private key>\n")
					.contains("Address = " + fixture.tunnelIp() + "/32\n"));
		}
		assertThat(auditKinds(fixture)).containsExactly("config_delivered");
	}

	@Test
	void theQrFormatIsAPngOfTheSameConfig() throws Exception {
		Fixture fixture = session(KeySource.RENTER);
		byte[] png = web.post().uri(fixture.path("/config?format=qr")).contentType(MediaType.APPLICATION_JSON)
			.bodyValue(signedBody(fixture)).exchange().expectStatus().isOk()
			.expectHeader().contentType(MediaType.IMAGE_PNG)
			.expectBody(byte[].class).returnResult().getResponseBody();
		String text = post(fixture.path("/config"), signedBody(fixture)).expectBody(String.class).returnResult()
			.getResponseBody();
		assertThat(QrCodeTests.decode(png)).isEqualTo(text);
		post(fixture.path("/config?format=pdf"), signedBody(fixture)).expectStatus().isBadRequest();
	}

	@Test
	void rekeyServesANewKeyOnceReplacesThePeerAndTellsTheReconciler() {
		Fixture fixture = session(KeySource.GENERATED);
		post(fixture.path("/config"), signedBody(fixture)).expectStatus().isOk();
		events.sessionsChanged.clear();
		String config = post(fixture.path("/rekey"), signedBody(fixture, Purpose.REKEY)).expectStatus().isOk()
			.expectBody(String.class).returnResult().getResponseBody();
		String privateKey = config.lines().filter(l -> l.startsWith("PrivateKey = ")).findFirst().orElseThrow()
			.substring("PrivateKey = ".length());
		assertThat(privateKey).isNotEqualTo(fixture.privateKey());
		Map<String, Object> row = jdbc.sql("select key_source, peer_public_key, sealed_private_key from sessions where id = ?")
			.param(fixture.sessionId()).query().singleRow();
		assertThat(row.get("peer_public_key")).isEqualTo(WireGuardKeys.publicKeyOf(privateKey));
		assertThat(row.get("key_source")).isEqualTo("GENERATED");
		assertThat(row.get("sealed_private_key")).isNull();
		assertThat(auditKinds(fixture)).containsExactly("config_delivered", "key_destroyed", "rekeyed",
				"config_delivered");
		assertThat(events.sessionsChanged).hasSize(1);
		// the new key, too, is served only in the rekey response
		post(fixture.path("/config"), signedBody(fixture)).expectStatus().isEqualTo(410);
	}

	@Test
	void rekeyOfARenterOwnKeySessionSwitchesItToAGeneratedKey() {
		Fixture fixture = session(KeySource.RENTER);
		String config = post(fixture.path("/rekey"), signedBody(fixture, Purpose.REKEY)).expectStatus().isOk()
			.expectBody(String.class).returnResult().getResponseBody();
		assertThat(config).doesNotContain("<your private key>").contains("Address = " + fixture.tunnelIp() + "/32");
		assertThat(jdbc.sql("select key_source from sessions where id = ?").param(fixture.sessionId())
			.query(String.class).single()).isEqualTo("GENERATED");
	}

	@Test
	void aMessageThatIsNotTheIssuedChallengeIs401AndSpendsTheNonce() {
		Fixture fixture = session(KeySource.GENERATED);
		String message = challenge(fixture);
		String edited = message.replace("Version: 1", "Version: 1 ");
		post(fixture.path("/config"), signedBy(RENTER, edited))
			.expectStatus().isUnauthorized().expectBody().jsonPath("$.error").isEqualTo("invalid_challenge");
		// the edit spent the nonce: the untouched challenge no longer works either
		post(fixture.path("/config"), signedBy(RENTER, message))
			.expectStatus().isUnauthorized();
		assertThat(auditKinds(fixture)).isEmpty();
	}

	@Test
	void aReplayedNonceIs401() {
		Fixture fixture = session(KeySource.RENTER);
		Map<String, String> body = signedBody(fixture);
		post(fixture.path("/config"), body).expectStatus().isOk();
		post(fixture.path("/config"), body).expectStatus().isUnauthorized();
	}

	@Test
	void anExpiredChallengeIs401() {
		Fixture fixture = session(KeySource.RENTER);
		Map<String, String> body = signedBody(fixture);
		clock.advance(Duration.ofMinutes(5).plusSeconds(1));
		post(fixture.path("/config"), body).expectStatus().isUnauthorized();
	}

	@Test
	void aChallengeOfAnotherRentalIs401() {
		Fixture mine = session(KeySource.RENTER);
		Fixture other = session(KeySource.RENTER);
		post(mine.path("/config"), signedBody(other)).expectStatus().isUnauthorized();
	}

	@Test
	void aSignatureFromWhichNoAddressCanBeRecoveredIs401() {
		Fixture fixture = session(KeySource.GENERATED);
		String message = challenge(fixture);
		post(fixture.path("/config"), Map.of("message", message, "signature", "0x" + "00".repeat(65)))
			.expectStatus().isUnauthorized().expectBody().jsonPath("$.error").isEqualTo("invalid_signature");
	}

	@Test
	void aSignatureFromAnotherWalletIs403NotRenter() {
		Fixture fixture = session(KeySource.GENERATED);
		String message = challenge(fixture);
		post(fixture.path("/config"), signedBy(STRANGER, message))
			.expectStatus().isForbidden().expectBody().jsonPath("$.error").isEqualTo("not_renter");
		assertThat(auditKinds(fixture)).isEmpty();
		post(fixture.path("/config"), signedBody(fixture)).expectStatus().isOk();
	}

	@Test
	void theRealWalletClientsSignatureIsAccepted() {
		Fixture fixture = session(KeySource.GENERATED);
		String message = challenge(fixture);
		post(fixture.path("/config"),
				Map.of("message", message, "signature", CastWallet.sign(CastWallet.PRIVATE_KEY, message)))
			.expectStatus().isOk().expectBody(String.class)
			.value(config -> assertThat(config).contains("PrivateKey = " + fixture.privateKey()));
	}

	@Test
	void aBodyOver16KiBIs413WithOrWithoutAContentLength() {
		Fixture fixture = session(KeySource.RENTER);
		byte[] big = ("{\"message\":\"" + "a".repeat(17 * 1024) + "\",\"signature\":\"0x\"}").getBytes(StandardCharsets.UTF_8);
		post(fixture.path("/config"), big).expectStatus().isEqualTo(413).expectBody().jsonPath("$.error")
			.isEqualTo("body_too_large");
		Flux<DataBuffer> chunked = Flux.range(0, 40)
			.map(i -> DefaultDataBufferFactory.sharedInstance.wrap(new byte[1024]));
		web.post().uri(fixture.path("/config")).contentType(MediaType.APPLICATION_JSON).body(chunked, DataBuffer.class)
			.exchange().expectStatus().isEqualTo(413);
		web.post().uri(fixture.path("/challenge")).body(Flux.range(0, 40)
			.map(i -> DefaultDataBufferFactory.sharedInstance.wrap(new byte[1024])), DataBuffer.class)
			.exchange().expectStatus().isEqualTo(413);
		// exactly 16 KiB is allowed through to the next check
		byte[] limit = new byte[16 * 1024];
		java.util.Arrays.fill(limit, (byte) ' ');
		post(fixture.path("/config"), limit).expectStatus().isBadRequest();
	}

	@Test
	void malformedIdsAndBodiesAre400() {
		Fixture fixture = session(KeySource.RENTER);
		String overflow = BigInteger.ONE.shiftLeft(256).toString();
		for (String id : new String[] { "abc", "-1", "0x10", overflow, "1.5", "%20" + fixture.rentalId() }) {
			web.get().uri("/v1/rentals/" + id).exchange().expectStatus().isBadRequest().expectBody()
				.jsonPath("$.error").isEqualTo("bad_request");
			web.post().uri("/v1/rentals/" + id + "/challenge").exchange().expectStatus().isBadRequest();
		}
		for (String body : new String[] { "", "null", "[]", "{", "{\"message\":1,\"signature\":\"0x\"}",
				"{\"message\":\"m\"}", "{\"message\":\"m\",\"signature\":null}", "{\"message\":\"m\",\"signature\":\"0x\"} x" }) {
			post(fixture.path("/config"), body.getBytes(StandardCharsets.UTF_8)).expectStatus().isBadRequest();
		}
	}

	@Test
	void aBodyThatIsNotJsonIs415() {
		Fixture fixture = session(KeySource.RENTER);
		web.post().uri(fixture.path("/config")).contentType(MediaType.TEXT_PLAIN).bodyValue("{}").exchange()
			.expectStatus().isEqualTo(415).expectBody().jsonPath("$.error").isEqualTo("unsupported_media_type");
		assertThat(raw("POST", fixture.path("/config"), "garbage;;;", "{}".getBytes()).statusCode()).isEqualTo(415);
		web.post().uri(fixture.path("/config")).contentType(MediaType.APPLICATION_FORM_URLENCODED)
			.bodyValue("message=a&signature=b").exchange().expectStatus().isEqualTo(415);
	}

	@Test
	void checksRunInTheSpecsOrder() {
		Fixture ended = session(nextRentalId(), KeySource.GENERATED, "ENDED", clock.instant().plusSeconds(3600),
				RENTER.getAddress());
		Fixture delivered = session(KeySource.GENERATED);
		post(delivered.path("/config"), signedBody(delivered)).expectStatus().isOk();
		byte[] big = new byte[17 * 1024];
		// 413 before 400: an oversized body to a malformed id
		post("/v1/rentals/abc/config", big).expectStatus().isEqualTo(413);
		// 400 before 404: a malformed body to an unknown rental
		post("/v1/rentals/" + nextRentalId() + "/config", "nope".getBytes()).expectStatus().isBadRequest();
		// 410 before 401 and 403
		post(ended.path("/config"), Map.of("message", "m", "signature", "0x")).expectStatus().isEqualTo(410);
		// 410 already_delivered before 401
		post(delivered.path("/config"), Map.of("message", "m", "signature", "0x")).expectStatus().isEqualTo(410)
			.expectBody().jsonPath("$.error").isEqualTo("already_delivered");
		// 401 before 403: a stranger presenting an unknown nonce
		Fixture fresh = session(KeySource.GENERATED);
		String message = challenge(fresh).replaceAll("Nonce: \\w+", "Nonce: AAAAAAAAAAAAAAAAAAAAAAAA");
		post(fresh.path("/config"), signedBy(STRANGER, message))
			.expectStatus().isUnauthorized();
	}

	@Test
	void aChallengeAfterAnEarlierOneSeesTheSessionAsItIsNow() {
		// Issuing remembers the rental's session for a moment; later challenges must still see the rental
		// end, expire, vanish in a reorganisation, and come back as a new session of another renter, once
		// the change is published as the chain ingester publishes it.
		Fixture fixture = session(KeySource.RENTER);
		challenge(fixture);
		jdbc.sql("update sessions set state = 'ENDED' where id = ?").param(fixture.sessionId()).update();
		sessionsChangedByTheChain();
		web.post().uri(fixture.path("/challenge")).exchange().expectStatus().isEqualTo(410).expectBody()
			.jsonPath("$.error").isEqualTo("ended");

		Fixture expiring = session(nextRentalId(), KeySource.RENTER, "ACTIVE", clock.instant().plusSeconds(60),
				RENTER.getAddress());
		challenge(expiring);
		clock.advance(Duration.ofSeconds(61));
		web.post().uri(expiring.path("/challenge")).exchange().expectStatus().isEqualTo(410).expectBody()
			.jsonPath("$.error").isEqualTo("expired");

		Fixture reorged = session(KeySource.RENTER);
		String first = challenge(reorged);
		jdbc.sql("update sessions set state = 'REORGED_OUT' where id = ?").param(reorged.sessionId()).update();
		sessionsChangedByTheChain();
		web.post().uri(reorged.path("/challenge")).exchange().expectStatus().isNotFound();
		Fixture again = session(reorged.rentalId(), KeySource.RENTER, "ACTIVE", clock.instant().plusSeconds(3600),
				STRANGER.getAddress());
		sessionsChangedByTheChain();
		String second = challenge(again);
		assertThat(first).contains(org.web3j.crypto.Keys.toChecksumAddress(RENTER.getAddress()));
		assertThat(second).contains(org.web3j.crypto.Keys.toChecksumAddress(STRANGER.getAddress()));
		// the old renter's challenge does not sign in to the new session
		post(again.path("/config"), signedBy(RENTER, first)).expectStatus().isUnauthorized();
		post(again.path("/config"), signedBy(STRANGER, second))
			.expectStatus().isOk();
	}

	@Test
	void blockingWorkRunsOnVirtualThreadsNeverOnTheEventLoop() {
		Fixture fixture = session(KeySource.GENERATED);
		Map<String, String> body = signedBody(fixture);
		jdbcThreads.clear();
		web.get().uri(fixture.path("")).exchange().expectStatus().isOk();
		post(fixture.path("/config"), body).expectStatus().isOk();
		web.post().uri(fixture.path("/challenge")).exchange().expectStatus().isOk();
		assertThat(jdbcThreads.threads()).isNotEmpty().allSatisfy(thread -> {
			assertThat(thread.isVirtual()).as(thread.toString()).isTrue();
			assertThat(thread.getName()).doesNotContain("reactor-http");
		});
	}

	/** What the chain ingester publishes after it changed sessions. */
	private void sessionsChangedByTheChain() {
		publisher.publishEvent(new SessionsChanged("test"));
	}

	@Autowired
	ApplicationEventPublisher publisher;

	/** The public key of the key file the WireGuard side reads too. */
	private static String serverPublicKey() {
		try {
			return WireGuardKeys.publicKeyOf(java.nio.file.Files.readString(serverKeyFile()).trim());
		}
		catch (java.io.IOException e) {
			throw new IllegalStateException(e);
		}
	}

}
