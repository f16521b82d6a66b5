package com.gpuflow.agent.fleet;

import java.io.IOException;
import java.io.UncheckedIOException;
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
import com.gpuflow.agent.testsupport.RenterNamespace;
import com.gpuflow.agent.testsupport.TcpProxy;
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

	TcpProxy firstsDatabase;

	/** An nft table of this test's own that drops one TCP connection on loopback; removed after each test. */
	String partitionTable;

	@AfterEach
	void stopEverything() {
		if (partitionTable != null) {
			RenterNamespace.run(List.of("nft", "delete", "table", "inet", partitionTable), Duration.ofSeconds(10));
		}
		for (AutoCloseable closeable : new AutoCloseable[] { second, first, firstsDatabase, chain }) {
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
		RentalMarketClient market = marketWithBothHosts();
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

	@Test
	void aReaderThatLosesItsDatabaseIsReplacedWithinTenSecondsAndDoesNotReadAgainWhenItReturns() throws Exception {
		RentalMarketClient market = marketWithBothHosts();
		TestDatabase.Connection database = TestDatabase.create();
		firstsDatabase = database.proxy();
		Map<String, Object> throughProxy = properties(database, market, FIRST);
		throughProxy.put("spring.datasource.url", database.urlThrough(firstsDatabase));
		first = AgentContext.start(throughProxy);
		second = AgentContext.start(properties(database, market, SECOND));
		JdbcClient jdbc = second.jdbc();
		Eventually.await(DEADLINE, "the first agent reads", () -> FIRST.equals(reader(jdbc)));
		market.rent(1, SECOND, 3_600, RentalMarketClient.randomBytes32());
		Eventually.await(DEADLINE, "the reader writes the second host's rental", () -> sessions(jdbc, SECOND) == 1);
		long termBefore = count(jdbc, "select term from chain_reader");

		// Every connection of the reader (pool, locks, LISTEN) is closed, and new ones are refused.
		firstsDatabase.cut();
		long cut = System.nanoTime();
		Eventually.await(Duration.ofSeconds(10), "the second agent reads", () -> SECOND.equals(reader(jdbc)));
		Duration takeover = Duration.ofNanos(System.nanoTime() - cut);
		market.rent(2, FIRST, 3_600, RentalMarketClient.randomBytes32());
		Eventually.await(DEADLINE, "the cut-off host's rental is written by the new reader",
				() -> sessions(jdbc, FIRST) == 1);

		// Back again, the first agent keeps its host but does not read: one reader, the term moved once.
		firstsDatabase.restore();
		Eventually.await(DEADLINE, "the first agent is back and says who reads",
				() -> health(first).at("/components/chain/details/reader").asText().equals("host " + SECOND));
		market.rent(3, FIRST, 3_600, RentalMarketClient.randomBytes32());
		Eventually.await(DEADLINE, "and its sessions still come", () -> sessions(jdbc, FIRST) == 2);
		assertThat(gauge(first, "gpuflow_chain_reader")).isEqualTo(0.0);
		assertThat(gauge(second, "gpuflow_chain_reader")).isEqualTo(1.0);
		assertThat(count(jdbc, "select term from chain_reader")).isEqualTo(termBefore + 1);
		assertThat(count(jdbc, "select count(*) from chain_events where orphaned_at is null")).isEqualTo(3);
		System.out.printf("shared database: reader's connections cut -> another agent reads in %d ms%n",
				takeover.toMillis());
	}

	/**
	 * A network partition of the reader's lock connection only, its pool still working: the database
	 * has to notice the silence itself (TCP keepalive) and free the lock, and a new term begins within
	 * 10 s. Either agent may win it: the old reader stops reading at once (its {@code select 1} times
	 * out) and, reaching the database on a new connection, competes again once its old session is gone.
	 */
	@Test
	void aReaderWhoseLockConnectionFallsSilentIsReplacedWithinTenSeconds() throws Exception {
		RentalMarketClient market = marketWithBothHosts();
		TestDatabase.Connection database = TestDatabase.create();
		first = AgentContext.start(properties(database, market, FIRST));
		second = AgentContext.start(properties(database, market, SECOND));
		JdbcClient jdbc = second.jdbc();
		Eventually.await(DEADLINE, "the first agent reads", () -> FIRST.equals(reader(jdbc)));
		long termBefore = count(jdbc, "select term from chain_reader");
		int lockPort = jdbc.sql("""
				select a.client_port from pg_locks l join pg_stat_activity a on a.pid = l.pid,
				  (select ('x' || substr(md5(?), 1, 16))::bit(64)::bigint as key) k
				where l.locktype = 'advisory' and l.granted and l.objsubid = 1
				  and l.classid::bigint = ((k.key >> 32) & 4294967295) and l.objid::bigint = (k.key & 4294967295)""")
			.param("gpuflow-reader:" + market.address().toLowerCase())
			.query(Integer.class)
			.single();

		// Both directions of that one connection dropped on loopback: no reset, no FIN, only silence.
		partitionTable = "gpuflow_test_" + RenterNamespace.uniqueName();
		RenterNamespace.sh("nft", "add", "table", "inet", partitionTable);
		RenterNamespace.sh("nft", "add", "chain", "inet", partitionTable, "out",
				"{ type filter hook output priority 0 ; policy accept ; }");
		RenterNamespace.sh("nft", "add", "rule", "inet", partitionTable, "out", "oif", "lo", "tcp", "sport",
				Integer.toString(lockPort), "drop");
		RenterNamespace.sh("nft", "add", "rule", "inet", partitionTable, "out", "oif", "lo", "tcp", "dport",
				Integer.toString(lockPort), "drop");
		long silent = System.nanoTime();
		Eventually.await(Duration.ofSeconds(10), "a new reader term",
				() -> count(jdbc, "select term from chain_reader") > termBefore);
		Duration takeover = Duration.ofNanos(System.nanoTime() - silent);
		String newReader = reader(jdbc);
		Eventually.await(DEADLINE, "exactly the new term's holder says it reads", () -> gauge(first,
				"gpuflow_chain_reader") == (FIRST.equals(newReader) ? 1.0 : 0.0)
				&& gauge(second, "gpuflow_chain_reader") == (SECOND.equals(newReader) ? 1.0 : 0.0));

		market.rent(1, FIRST, 3_600, RentalMarketClient.randomBytes32());
		Eventually.await(DEADLINE, "the silent reader's host is read by the new one", () -> sessions(jdbc, FIRST) == 1);
		assertThat(count(jdbc, "select term from chain_reader")).isEqualTo(termBefore + 1);
		assertThat(count(jdbc, "select count(*) from chain_events where orphaned_at is null")).isEqualTo(1);
		System.out.printf("shared database: reader's lock connection silent -> a new term (host %s) in %d ms%n",
				FIRST.equals(newReader) ? "of the old reader, on a new connection" : "of the other agent",
				takeover.toMillis());
	}

	/** A fresh anvil with the contract, both hosts registered on chain (not yet in any database). */
	private RentalMarketClient marketWithBothHosts() {
		chain = AnvilNode.startDefault();
		RentalMarketClient market = RentalMarketClient.deploy(chain);
		market.registerHost(0, FIRST, BigInteger.ONE);
		market.registerHost(0, SECOND, BigInteger.ONE);
		return market;
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

	private static JsonNode health(AgentContext agent) {
		try {
			return new ObjectMapper().readTree(get(agent, "/actuator/health"));
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	private static double gauge(AgentContext agent, String name) {
		return get(agent, "/actuator/prometheus").lines()
			.filter(line -> line.startsWith(name + " ") || line.startsWith(name + "{"))
			.mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
			.findFirst()
			.orElseThrow(() -> new AssertionError(name + " is not exported"));
	}

	private static String get(AgentContext agent, String path) {
		try {
			return HttpClient.newHttpClient()
				.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + agent.managementPort() + path)).build(),
						HttpResponse.BodyHandlers.ofString())
				.body();
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(e);
		}
	}

}
