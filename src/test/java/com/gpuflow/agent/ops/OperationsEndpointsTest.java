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
import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
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

	String get(String path) throws Exception {
		HttpResponse<String> response = http.send(
				HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + agent.httpPort() + path)).build(),
				HttpResponse.BodyHandlers.ofString());
		return response.body();
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

}
