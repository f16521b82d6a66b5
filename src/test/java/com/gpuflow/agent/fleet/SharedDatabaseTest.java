package com.gpuflow.agent.fleet;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.RentalMarketClient.RentalCreated;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import org.springframework.jdbc.core.simple.JdbcClient;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Two agents of two hosts on one database and one anvil, in this JVM: one reads the chain for
 * both; a host whose agent starts after its rentals were made gets them from CHAIN_START_BLOCK;
 * when the reader stops the other takes over from the checkpoints, and the deposed term can no
 * longer write. The six-process version with kill -9 is {@code FleetFaultTest}.
 */
class SharedDatabaseTest {

	static final String FIRST = RentalMarketClient.hostId("shared-db-first");

	static final String SECOND = RentalMarketClient.hostId("shared-db-second");

	static final Duration DEADLINE = Duration.ofSeconds(30);

	AnvilNode chain;

	AgentContext first;

	AgentContext second;

	@AfterEach
	void stopEverything() {
		for (AutoCloseable closeable : new AutoCloseable[] { second, first, chain }) {
			try {
				if (closeable != null) {
					closeable.close();
				}
			}
			catch (Exception e) {
				throw new IllegalStateException(e);
			}
		}
	}

	@Test
	void oneReaderServesALateHostFromTheStartBlockAndTheOtherTakesOverFromTheCheckpoints() throws Exception {
		chain = AnvilNode.startDefault();
		RentalMarketClient market = RentalMarketClient.deploy(chain);
		market.registerHost(0, FIRST, BigInteger.ONE);
		market.registerHost(0, SECOND, BigInteger.ONE);
		TestDatabase.Connection database = TestDatabase.create();

		// The second host's rentals are on chain before its agent (or anyone) registered it.
		List<RentalCreated> early = List.of(market.rent(1, SECOND, 3_600, RentalMarketClient.randomBytes32()),
				market.rent(2, SECOND, 3_600, RentalMarketClient.randomBytes32()));
		RentalCreated firstsOwn = market.rent(3, FIRST, 3_600, RentalMarketClient.randomBytes32());
		first = AgentContext.start(properties(database, market, FIRST));
		JdbcClient jdbc = first.jdbc();
		Eventually.await(DEADLINE, "the first host's rental is written", () -> sessions(jdbc, FIRST) == 1);
		assertThat(sessions(jdbc, SECOND)).as("an unregistered host's rentals are not read").isZero();

		second = AgentContext.start(properties(database, market, SECOND));
		Eventually.await(DEADLINE, "the late host's earlier rentals are written",
				() -> sessions(jdbc, SECOND) == early.size());
		RentalCreated later = market.rent(4, SECOND, 3_600, RentalMarketClient.randomBytes32());
		Eventually.await(DEADLINE, "and its new one", () -> sessions(jdbc, SECOND) == 3);

		assertThat(reader(jdbc)).isEqualTo(FIRST);
		assertThat(gauge(first, "gpuflow_chain_reader")).isEqualTo(1.0);
		assertThat(gauge(second, "gpuflow_chain_reader")).isEqualTo(0.0);
		assertThat(health(second).at("/components/chain/details/reader").asText()).isEqualTo("host " + FIRST);
		assertThat(health(first).at("/components/chain/details/reader").asText()).isEqualTo("this agent");
		assertThat(count(jdbc, "select count(*) from audit_log where host_id = ? and kind = 'confirmed'", SECOND))
			.as("the reader writes into the late host's own audit chain").isEqualTo(3);

		// The reader stops: the second agent takes over within 10 s and continues from the checkpoints.
		long termBefore = count(jdbc, "select term from chain_reader");
		long stopped = System.nanoTime();
		first.close();
		first = null;
		JdbcClient survivor = second.jdbc();
		Eventually.await(Duration.ofSeconds(10), "the second agent reads", () -> SECOND.equals(reader(survivor)));
		Duration takeover = Duration.ofNanos(System.nanoTime() - stopped);
		assertThat(count(survivor, "select term from chain_reader")).isEqualTo(termBefore + 1);
		RentalCreated afterTakeover = market.rent(5, FIRST, 3_600, RentalMarketClient.randomBytes32());
		Eventually.await(DEADLINE, "the stopped agent's host is still read",
				() -> sessions(survivor, FIRST) == 2);
		assertThat(count(survivor, "select count(*) from chain_events where orphaned_at is null"))
			.as("every chain event stored once, across the takeover")
			.isEqualTo(early.size() + 3);
		assertThat(List.of(firstsOwn, later, afterTakeover)).allSatisfy(rental -> assertThat(count(survivor,
				"select count(*) from sessions where rental_id = ?", new BigDecimal(rental.rentalId())))
			.isEqualTo(1));

		// A reader that lost its term (its lock connection, not its pool) cannot write behind its successor.
		Fleet fleet = second.bean(Fleet.class);
		assertThatThrownBy(() -> fleet.fence(termBefore, 0)).isInstanceOf(NotTheReaderException.class);
		System.out.printf("shared database: from the reader's stop (its graceful shutdown included) to the takeover %d ms%n", takeover.toMillis());
	}

	private static Map<String, Object> properties(TestDatabase.Connection database, RentalMarketClient market,
			String host) {
		Map<String, Object> properties = AgentContext.properties(database, market.node(), market.address(), host);
		properties.put("gpuflow.fleet.election-interval", "500ms");
		return properties;
	}

	private static long sessions(JdbcClient jdbc, String host) {
		return count(jdbc, "select count(*) from sessions where host_id = ? and state = 'ACTIVE'", host);
	}

	private static String reader(JdbcClient jdbc) {
		return jdbc.sql("select host_id from chain_reader").query(String.class).optional().orElse(null);
	}

	private static long count(JdbcClient jdbc, String sql, Object... params) {
		return jdbc.sql(sql).params(params).query(Long.class).single();
	}

	private static JsonNode health(AgentContext agent) throws Exception {
		return new ObjectMapper().readTree(get(agent, "/actuator/health"));
	}

	private static double gauge(AgentContext agent, String name) throws Exception {
		return get(agent, "/actuator/prometheus").lines()
			.filter(line -> line.startsWith(name + " ") || line.startsWith(name + "{"))
			.mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
			.findFirst()
			.orElseThrow(() -> new AssertionError(name + " is not exported"));
	}

	private static String get(AgentContext agent, String path) throws Exception {
		HttpResponse<String> response = HttpClient.newHttpClient()
			.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + agent.managementPort() + path)).build(),
					HttpResponse.BodyHandlers.ofString());
		return response.body();
	}

}
