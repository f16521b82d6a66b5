package com.gpuflow.agent.ops;

import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.gpuflow.agent.management.ManagementRoutes;
import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.springframework.context.annotation.Bean;
import org.springframework.web.reactive.function.server.RouterFunctions;
import org.springframework.web.reactive.function.server.ServerResponse;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** /actuator/health and /actuator/prometheus of a running agent on a real chain and database. */
class OperationsEndpointsTest {

	static final String HOST = RentalMarketClient.hostId("ops-host");

	AnvilNode chain;

	AgentContext agent;

	final HttpClient http = HttpClient.newHttpClient();

	@AfterEach
	void stop() {
		if (agent != null) {
			agent.close();
		}
		if (chain != null) {
			chain.close();
		}
	}

	/** A GET on the management port, where actuator lives. */
	String get(String path) throws Exception {
		return send(agent.managementPort(), path).body();
	}

	HttpResponse<String> send(int port, String path) throws Exception {
		return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
				HttpResponse.BodyHandlers.ofString());
	}

	@Test
	void healthShowsTheDatabaseAndTheChainAndPrometheusTheSessionGauges() throws Exception {
		chain = AnvilNode.startDefault();
		RentalMarketClient market = RentalMarketClient.deploy(chain);
		market.registerHost(0, HOST, BigInteger.ONE);
		market.rent(1, HOST, 3600, RentalMarketClient.ZERO_KEY);
		var ended = market.rent(2, HOST, 3600, RentalMarketClient.ZERO_KEY);
		market.endRental(2, ended.rentalId());
		Map<String, Object> properties = AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST);
		properties.put("gpuflow.metrics.session-refresh-ms", "200");
		agent = AgentContext.start(properties);
		ObjectMapper json = new ObjectMapper();

		JsonNode health = Eventually.await(Duration.ofSeconds(30), "chain component up", () -> {
			try {
				return json.readTree(get("/actuator/health"));
			}
			catch (Exception e) {
				throw new IllegalStateException(e);
			}
		}, h -> h.at("/components/chain/status").asText().equals("UP"));
		assertThat(health.at("/components/db/status").asText()).isEqualTo("UP");
		JsonNode details = health.at("/components/chain/details");
		assertThat(details.get("head").asLong()).isEqualTo(chain.blockNumber());
		assertThat(details.get("checkpoint").asLong()).isEqualTo(chain.blockNumber());
		assertThat(details.get("lag").asLong()).isZero();
		assertThat(details.get("maxLag").asLong()).isEqualTo(20);
		assertThat(details.has("lastSuccess")).isTrue();

		String metrics = Eventually.await(Duration.ofSeconds(30), "session gauges counted", () -> {
			try {
				return get("/actuator/prometheus");
			}
			catch (Exception e) {
				throw new IllegalStateException(e);
			}
		}, m -> m.matches("(?s).*gpuflow_sessions\\{[^}]*state=\"ENDED\"[^}]*} 1\\.0.*"));
		assertThat(metrics).containsPattern("gpuflow_sessions\\{[^}]*state=\"ACTIVE\"[^}]*} 1\\.0")
			.containsPattern("gpuflow_sessions\\{[^}]*state=\"REORGED_OUT\"[^}]*} 0\\.0")
			.containsPattern("gpuflow_leases_held\\{[^}]*} 1\\.0")
			.containsPattern("gpuflow_sessions_waiting_for_address\\{[^}]*} 0\\.0")
			.contains("gpuflow_chain_lag_blocks");

		chain.close();
		// The node is gone: within the staleness window plus a poll the chain component goes down.
		JsonNode down = Eventually.await(Duration.ofSeconds(60), "chain component down", () -> {
			try {
				return json.readTree(get("/actuator/health"));
			}
			catch (Exception e) {
				throw new IllegalStateException(e);
			}
		}, h -> h.at("/components/chain/status").asText().equals("DOWN"));
		assertThat(down.at("/components/chain/details/lastError").asText()).startsWith("chain node");
		chain = null;
	}

	@Test
	void theRenterPortAnswersOnlyALivenessWhileHealthDetailsAndMetricsAreOnTheManagementPort() throws Exception {
		chain = AnvilNode.startDefault();
		RentalMarketClient market = RentalMarketClient.deploy(chain);
		market.registerHost(0, HOST, BigInteger.ONE);
		Map<String, Object> properties = AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST);
		properties.put("spring.main.sources", ExtraManagementRoute.class.getName());
		agent = AgentContext.start(properties);
		ObjectMapper json = new ObjectMapper();
		int renterPort = agent.httpPort();
		int managementPort = agent.managementPort();
		assertThat(managementPort).isPositive().isNotEqualTo(renterPort);

		HttpResponse<String> liveness = send(renterPort, "/healthz");
		assertThat(liveness.statusCode()).isEqualTo(200);
		assertThat(json.readTree(liveness.body())).hasSize(1);
		assertThat(json.readTree(liveness.body()).get("status").asText()).isEqualTo("UP");
		for (String path : new String[] { "/actuator/health", "/actuator/prometheus", "/actuator/health/readiness",
				"/actuator" }) {
			assertThat(send(renterPort, path).statusCode()).as("renter port " + path).isEqualTo(404);
		}

		JsonNode health = json.readTree(get("/actuator/health"));
		assertThat(health.at("/components/db/details").isObject()).as("details on the management port").isTrue();
		assertThat(get("/actuator/prometheus")).contains("jvm_memory_used_bytes");
		assertThat(send(managementPort, "/actuator/health/liveness").statusCode()).isEqualTo(200);
		HttpResponse<String> readiness = send(managementPort, "/actuator/health/readiness");
		assertThat(readiness.statusCode()).isEqualTo(200);
		assertThat(json.readTree(readiness.body()).at("/components/db").isMissingNode())
			.as("readiness ignores the database: it must not pull the node during an outage")
			.isTrue();
		// Renter routes stay off the management port, and routes declared as ManagementRoutes off the renter port.
		assertThat(send(renterPort, "/v1/rentals/x").statusCode()).isEqualTo(400);
		assertThat(send(managementPort, "/v1/rentals/x").statusCode()).isEqualTo(404);
		HttpResponse<String> local = send(managementPort, "/v1/local/test-only");
		assertThat(local.statusCode()).isEqualTo(200);
		assertThat(local.body()).isEqualTo("management only");
		assertThat(send(renterPort, "/v1/local/test-only").statusCode()).isEqualTo(404);
	}

	/** A route of the kind the local routes are: a ManagementRoutes bean (a plain class, so no component scan finds it). */
	static class ExtraManagementRoute {

		@Bean
		ManagementRoutes testOnlyRoute() {
			return () -> RouterFunctions.route()
				.GET("/v1/local/test-only", request -> ServerResponse.ok().bodyValue("management only"))
				.build();
		}

	}

}
