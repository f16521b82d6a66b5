package com.gpuflow.agent.api;

import java.time.Clock;
import java.util.HashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.gpuflow.agent.config.AgentSettings;
import org.junit.jupiter.api.Test;
import reactor.core.scheduler.Schedulers;

import org.springframework.http.HttpStatus;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.jdbc.datasource.DriverManagerDataSource;
import org.springframework.test.web.reactive.server.WebTestClient;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * A database that cannot be reached (or a pool with no free connection under load) is a 503 with
 * the SPEC's error body, which a renter can retry, never a 500.
 */
class RenterDatabaseDownTests {

	@Test
	void anUnreachableDatabaseIsA503WithTheErrorFormat() {
		// Port 1 on loopback: nothing listens, the connection is refused at once.
		DriverManagerDataSource nowhere = new DriverManagerDataSource("jdbc:postgresql://127.0.0.1:1/gpuflow?connectTimeout=2",
				"gpuflow", "gpuflow");
		Map<String, String> properties = new HashMap<>();
		properties.put("host-id", "0x" + "3c".repeat(32));
		properties.put("rental-contract", "0x" + "1".repeat(40));
		properties.put("wg.endpoint", "127.0.0.1:51820");
		AgentSettings settings = AgentSettings.from(properties::get);
		Rentals rentals = new Rentals(JdbcClient.create(nowhere), settings);
		RenterService service = new RenterService(rentals, null,
				new TransactionTemplate(new DataSourceTransactionManager(nowhere)), event -> {
				}, () -> 31337L, () -> "c2VydmVyLXB1YmxpYy1rZXktZm9yLXRlc3RzLTMyYg==",
				new com.gpuflow.agent.keys.RenterKeyVault(settings), settings, Clock.systemUTC(),
				new ChallengeNonce(new byte[32]), new SpentNonces(JdbcClient.create(nowhere), settings),
				new IssuingLookups(rentals), null);
		RenterHandler handler = new RenterHandler(service, Schedulers.boundedElastic(), new ObjectMapper(), 16);
		WebTestClient client = WebTestClient.bindToRouterFunction(new RenterApiConfiguration().renterRoutes(handler)).build();

		client.get().uri("/v1/rentals/1").exchange().expectStatus().isEqualTo(HttpStatus.SERVICE_UNAVAILABLE)
			.expectBody().jsonPath("$.error").isEqualTo("unavailable");
		client.post().uri("/v1/rentals/1/challenge").exchange().expectStatus().isEqualTo(HttpStatus.SERVICE_UNAVAILABLE)
			.expectBody().jsonPath("$.error").isEqualTo("unavailable");
		client.post()
			.uri("/v1/rentals/1/config")
			.bodyValue(Map.of("message", "hello", "signature", "0x" + "00".repeat(65)))
			.exchange()
			.expectStatus()
			.isEqualTo(HttpStatus.SERVICE_UNAVAILABLE)
			.expectBody()
			.jsonPath("$.error")
			.isEqualTo("unavailable");
	}

}
