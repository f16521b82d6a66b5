package com.gpuflow.agent.api;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class OneTimeConfigConcurrencyTests extends RenterApiTestSupport {

	static final int REQUESTS = 50;

	@Test
	void fiftyParallelFetchesWithValidSignaturesGetTheGeneratedKeyExactlyOnce() throws Exception {
		Fixture fixture = session(KeySource.GENERATED);
		ObjectMapper json = new ObjectMapper();
		List<byte[]> bodies = new ArrayList<>();
		for (int i = 0; i < REQUESTS; i++) {
			bodies.add(json.writeValueAsBytes(signedBody(fixture)));
		}
		CountDownLatch start = new CountDownLatch(1);
		List<Future<HttpResponse<String>>> responses = new ArrayList<>();
		try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
			for (byte[] body : bodies) {
				responses.add(clients.submit(() -> {
					start.await();
					return raw("POST", fixture.path("/config"), "application/json", body);
				}));
			}
			start.countDown();
		}
		List<HttpResponse<String>> done = new ArrayList<>();
		for (Future<HttpResponse<String>> response : responses) {
			done.add(response.get());
		}
		List<HttpResponse<String>> served = done.stream().filter(r -> r.statusCode() == 200).toList();
		assertThat(served).hasSize(1);
		assertThat(served.get(0).body()).contains("PrivateKey = " + fixture.privateKey());
		assertThat(done).filteredOn(r -> r.statusCode() != 200)
			.hasSize(REQUESTS - 1)
			.allSatisfy(r -> {
				assertThat(r.statusCode()).isEqualTo(410);
				assertThat(json.readValue(r.body().getBytes(StandardCharsets.UTF_8), Map.class))
					.containsEntry("error", "already_delivered");
			});
		assertThat(auditKinds(fixture)).containsExactly("config_delivered", "key_destroyed");
		assertThat(jdbc.sql("select count(*) from spent_nonces").query(Integer.class).single())
			.as("every presented nonce is spent").isGreaterThanOrEqualTo(REQUESTS);
	}

}
