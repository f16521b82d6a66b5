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
@TestPropertySource(properties = { "gpuflow.rate-limit=5", "gpuflow.trusted-proxies=127.0.0.1/32,::1/128" })
class RateLimitTests extends RenterApiTestSupport {

	@Test
	void anAddressGetsABurstOfTwiceTheRateThen429WithRetryAfter() {
		Fixture fixture = session(KeySource.RENTER);
		String client = "203.0.113.10";
		for (int i = 0; i < 10; i++) {
			challengeFrom(client, fixture).expectStatus().isOk();
		}
		EntityExchangeResult<Map> refused = challengeFrom(client, fixture).expectStatus().isEqualTo(429)
			.expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_JSON)
			.expectBody(Map.class).returnResult();
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
		Fixture fixture = session(KeySource.RENTER);
		String client = "203.0.113.30";
		for (int i = 0; i < 10; i++) {
			challengeFrom(client, fixture).expectStatus().isOk();
		}
		jdbcThreads.clear();
		// an oversized body would be 413 if it were read; the limit answers first
		web.post().uri(fixture.path("/config")).header("X-Forwarded-For", client).contentType(MediaType.APPLICATION_JSON)
			.bodyValue(new byte[64 * 1024]).exchange().expectStatus().isEqualTo(429);
		web.post().uri("/v1/rentals/" + nextRentalId() + "/config").header("X-Forwarded-For", client)
			.contentType(MediaType.APPLICATION_JSON).bodyValue(Map.of("message", "m", "signature", "0x")).exchange()
			.expectStatus().isEqualTo(429);
		assertThat(jdbcThreads.threads()).as("connections opened for refused requests").isEmpty();
	}

	@Test
	void theBucketRefillsAtTheRate() throws InterruptedException {
		Fixture fixture = session(KeySource.RENTER);
		String client = "203.0.113.40";
		int drained = 0;
		while (drained < 100 && challengeFrom(client, fixture).returnResult(String.class).getStatus().value() != 429) {
			drained++;
		}
		assertThat(drained).as("the burst").isBetween(9, 11);
		Thread.sleep(Duration.ofMillis(1_100));
		int served = 0;
		while (served < 100 && challengeFrom(client, fixture).returnResult(String.class).getStatus().value() == 200) {
			served++;
		}
		assertThat(served).as("served after 1.1 s at 5/s").isBetween(4, 7);
	}

	private WebTestClient.ResponseSpec challengeFrom(String client,
			Fixture fixture) {
		return web.post().uri(fixture.path("/challenge")).header("X-Forwarded-For", client).exchange();
	}

}
