package com.gpuflow.agent.api;

import java.time.Duration;
import java.util.Map;

import org.junit.jupiter.api.Test;

import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.test.context.TestPropertySource;
import org.springframework.test.web.reactive.server.EntityExchangeResult;
import org.springframework.test.web.reactive.server.WebTestClient;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * GPUFLOW_RATE_LIMIT over real HTTP: a per-address token bucket on the POST routes, 429 with
 * Retry-After before the body is read or the database asked. The test client connects from
 * loopback, a trusted proxy by default, so X-Forwarded-For stands for other client addresses.
 */
@TestPropertySource(properties = { "host-id=0x3333333333333333333333333333333333333333333333333333333333333333", "gpuflow.rate-limit=5", "gpuflow.trusted-proxies=127.0.0.1/32,::1/128" })
class RateLimitTests extends RenterApiTestSupport {

	@Test
	void anAddressGetsABurstOfTwiceTheRateThen429WithRetryAfter() {
		Fixture fixture = session(KeySource.RENTER);
		String client = "203.0.113.10";
		long started = System.nanoTime();
		int served = 0;
		EntityExchangeResult<Map> refused = null;
		while (served < 200 && refused == null) {
			EntityExchangeResult<Map> result = challengeFrom(client, fixture).expectBody(Map.class).returnResult();
			if (result.getStatus().value() == 429) {
				refused = result;
			}
			else {
				assertThat(result.getStatus().value()).isEqualTo(200);
				served++;
			}
		}
		double seconds = (System.nanoTime() - started) / 1e9;
		// the burst (2 x 5) and what 5/s refilled meanwhile, however slow this machine is
		assertThat(served).as("served in " + seconds + " s").isBetween(10, 10 + (int) Math.ceil(5 * seconds) + 1);
		assertThat(refused).isNotNull();
		assertThat(refused.getResponseHeaders().getContentType().isCompatibleWith(MediaType.APPLICATION_JSON)).isTrue();
		assertThat(refused.getResponseBody()).containsEntry("error", "rate_limited");
		assertThat(Long.parseLong(refused.getResponseHeaders().getFirst(HttpHeaders.RETRY_AFTER))).isBetween(1L, 2L);
		// reads are not limited
		web.get().uri(fixture.path("")).header("X-Forwarded-For", client).exchange().expectStatus().isOk();
	}

	@Test
	void aFloodFromOneAddressLeavesAnotherServed() {
		Fixture fixture = session(KeySource.GENERATED);
		String flooder = "203.0.113.20";
		int refused = 0;
		for (int i = 0; i < 100; i++) {
			if (challengeFrom(flooder, fixture).returnResult(String.class).getStatus().value() == 429) {
				refused++;
			}
		}
		assertThat(refused).isGreaterThanOrEqualTo(80);
		String message = web.post().uri(fixture.path("/challenge")).header("X-Forwarded-For", "198.51.100.20").exchange()
			.expectStatus().isOk().expectBody(Map.class).returnResult().getResponseBody().get("message").toString();
		web.post().uri(fixture.path("/config")).header("X-Forwarded-For", "198.51.100.20")
			.contentType(MediaType.APPLICATION_JSON).bodyValue(signedBy(RENTER, message)).exchange()
			.expectStatus().isOk();
	}

	@Test
	void aRefusalComesBeforeTheBodyIsReadAndBeforeTheDatabase() {
		String client = "203.0.113.30";
		// An oversized body is 413 when it is read; once the bucket is empty the limit answers first.
		int status = 0;
		for (int i = 0; i < 200 && status != 429; i++) {
			status = web.post().uri("/v1/rentals/" + nextRentalId() + "/config").header("X-Forwarded-For", client)
				.contentType(MediaType.APPLICATION_JSON).bodyValue(new byte[64 * 1024]).exchange()
				.returnResult(String.class).getStatus().value();
			assertThat(status).isIn(413, 429);
		}
		assertThat(status).isEqualTo(429);
		// An unknown rental costs a database read when it gets through; a refused one none.
		boolean refusedWithoutDatabase = false;
		for (int i = 0; i < 200 && !refusedWithoutDatabase; i++) {
			jdbcThreads.clear();
			int answer = web.post().uri("/v1/rentals/" + nextRentalId() + "/config").header("X-Forwarded-For", client)
				.contentType(MediaType.APPLICATION_JSON).bodyValue(Map.of("message", "m", "signature", "0x")).exchange()
				.returnResult(String.class).getStatus().value();
			assertThat(answer).isIn(404, 429);
			if (answer == 429) {
				assertThat(jdbcThreads.threads()).as("connections opened for a refused request").isEmpty();
				refusedWithoutDatabase = true;
			}
		}
		assertThat(refusedWithoutDatabase).isTrue();
	}

	@Test
	void theBucketHoldsTwiceTheRateAndRefillsAtTheRate() throws InterruptedException {
		Fixture fixture = session(KeySource.RENTER);
		String client = "203.0.113.40";
		long started = System.nanoTime();
		int served = 0;
		while (served < 200 && challengeFrom(client, fixture).returnResult(String.class).getStatus().value() != 429) {
			served++;
		}
		assertThat(served).as("the burst").isGreaterThanOrEqualTo(10);
		Thread.sleep(Duration.ofMillis(1_100));
		int afterPause = 0;
		while (afterPause < 200 && challengeFrom(client, fixture).returnResult(String.class).getStatus().value() == 200) {
			afterPause++;
		}
		double seconds = (System.nanoTime() - started) / 1e9;
		assertThat(afterPause).as("served after a 1.1 s pause at 5/s").isGreaterThanOrEqualTo(5);
		// a token bucket never serves more than its capacity and what the rate refilled since it was full
		assertThat(served + afterPause).as("served in " + seconds + " s").isLessThanOrEqualTo(10 + (int) Math.ceil(5 * seconds));
	}

	private WebTestClient.ResponseSpec challengeFrom(String client,
			Fixture fixture) {
		return web.post().uri(fixture.path("/challenge")).header("X-Forwarded-For", client).exchange();
	}

}
