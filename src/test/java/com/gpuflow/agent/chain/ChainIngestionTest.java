package com.gpuflow.agent.chain;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import org.springframework.jdbc.core.simple.JdbcClient;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The ingester against a real anvil and a real PostgreSQL: exactly-once persistence across
 * restarts, confirmations, reorganisations and a node that goes away.
 */
class ChainIngestionTest {

	static final String HOST = RentalMarketClient.hostId("ingestion-host");

	static final String OTHER_HOST = RentalMarketClient.hostId("someone-else");

	static final Duration DEADLINE = Duration.ofSeconds(30);

	AnvilNode chain;

	AgentContext agent;

	@AfterEach
	void stopEverything() {
		if (agent != null) {
			agent.close();
		}
		if (chain != null) {
			chain.close();
		}
	}

	RentalMarketClient market() {
		RentalMarketClient market = RentalMarketClient.deploy(chain);
		market.registerHost(0, HOST, BigInteger.ONE);
		market.registerHost(0, OTHER_HOST, BigInteger.ONE);
		return market;
	}

	static long count(JdbcClient jdbc, String sql, Object... params) {
		return jdbc.sql(sql).params(params).query(Long.class).single();
	}

	static String state(JdbcClient jdbc, BigInteger rentalId) {
		return jdbc.sql("select state from sessions where rental_id = ? order by id desc limit 1")
			.param(new BigDecimal(rentalId))
			.query(String.class)
			.optional()
			.orElse("none");
	}

	@Test
	void storesThisHostsRentalsOnceAndIgnoresOtherHosts() {
		chain = AnvilNode.startDefault();
		RentalMarketClient market = market();
		var mine = market.rent(1, HOST, 3600, RentalMarketClient.ZERO_KEY);
		var theirs = market.rent(2, OTHER_HOST, 3600, RentalMarketClient.ZERO_KEY);
		market.extend(1, mine.rentalId(), 600, BigInteger.valueOf(600));
		market.extend(2, theirs.rentalId(), 600, BigInteger.valueOf(600));
		var endedEarly = market.rent(3, HOST, 3600, RentalMarketClient.ZERO_KEY);
		market.endRental(3, endedEarly.rentalId());
		agent = AgentContext.start(AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST));
		JdbcClient jdbc = agent.jdbc();

		Eventually.await(DEADLINE, "the extension of our rental is applied",
				() -> count(jdbc, "select count(*) from sessions where ends_at = to_timestamp(?)", mine.endsAt() + 600) == 1);
		Eventually.await(DEADLINE, "the rental created and ended in one range is ended",
				() -> state(jdbc, endedEarly.rentalId()).equals("ENDED"));
		assertThat(count(jdbc, "select count(*) from sessions")).isEqualTo(2);
		assertThat(count(jdbc, "select count(*) from leases where held_to is null")).as("only the active session holds an address")
			.isEqualTo(1);
		assertThat(count(jdbc, "select count(*) from sessions where sealed_private_key is not null")).isEqualTo(1);
		assertThat(count(jdbc, "select count(*) from chain_events where rental_id = ?", new BigDecimal(theirs.rentalId())))
			.as("events of the other host's rental are not stored").isZero();
		assertThat(jdbc.sql("select renter from sessions where rental_id = ?").param(new BigDecimal(mine.rentalId()))
			.query(String.class)
			.single()).isEqualTo(mine.renter().toLowerCase());
		assertThat(jdbc.sql("select host(tunnel_ip) from sessions where rental_id = ?").param(new BigDecimal(mine.rentalId()))
			.query(String.class)
			.single()).isEqualTo("10.77.0.2");
		assertThat(jdbc.sql("select kind from audit_log where rental_id = ? order by id").param(new BigDecimal(mine.rentalId()))
			.query(String.class)
			.list()).containsExactly("created", "confirmed", "extended");
		assertThat(jdbc.sql("select kind from audit_log where rental_id = ? order by id")
			.param(new BigDecimal(endedEarly.rentalId()))
			.query(String.class)
			.list()).containsExactly("created", "confirmed", "key_destroyed", "ended");
	}

	@Test
	void aRestartInTheMiddleOfABackfillLosesAndDuplicatesNothing() throws Exception {
		chain = AnvilNode.startDefault();
		RentalMarketClient market = market();
		int rentals = 2_000;
		market.rentMany(rentals, HOST, 3600, 10, i -> RentalMarketClient.ZERO_KEY, Duration.ofMinutes(3));
		TestDatabase.Connection database = TestDatabase.create();
		Map<String, Object> properties = AgentContext.properties(database, chain, market.address(), HOST);
		// rentMany puts nine rentals in a block: ranges of 6 blocks make a backfill of about 37 steps
		properties.put("gpuflow.chain.max-range", "6");

		agent = AgentContext.start(properties);
		JdbcClient jdbc = agent.jdbc();
		Eventually.await(DEADLINE, "part of the backfill is stored",
				() -> count(jdbc, "select count(*) from sessions") >= rentals / 4);
		agent.close();
		try (var connection = database.open(); var rs = connection.createStatement().executeQuery("select count(*) from sessions")) {
			rs.next();
			assertThat(rs.getLong(1)).as("stopped in the middle").isLessThan(rentals);
		}

		agent = AgentContext.start(properties);
		JdbcClient again = agent.jdbc();
		Eventually.await(Duration.ofMinutes(2), "the whole backfill is stored",
				() -> count(again, "select count(*) from sessions") == rentals);
		assertThat(count(again, "select count(distinct rental_id) from sessions")).isEqualTo(rentals);
		assertThat(count(again, "select count(*) from chain_events")).isEqualTo(rentals);
		assertThat(count(again, "select count(distinct tunnel_ip) from sessions")).isEqualTo(rentals);
		assertThat(count(again, "select count(*) from audit_log where kind = 'created'")).isEqualTo(rentals);
		assertThat(count(again, "select min(rental_id)::bigint from sessions")).isEqualTo(1);
		assertThat(count(again, "select max(rental_id)::bigint from sessions")).isEqualTo(rentals);
	}

	@Test
	void aReorganisationUndoesTheOrphanedRentalAndAReappearingIdIsANewSession() {
		chain = AnvilNode.startDefault();
		RentalMarketClient market = market();
		var kept = market.rent(1, HOST, 3600, RentalMarketClient.ZERO_KEY);
		agent = AgentContext.start(AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST));
		JdbcClient jdbc = agent.jdbc();
		Eventually.await(DEADLINE, "first rental active", () -> state(jdbc, kept.rentalId()).equals("ACTIVE"));

		var orphaned = market.rent(2, HOST, 3600, RentalMarketClient.ZERO_KEY);
		Eventually.await(DEADLINE, "second rental active", () -> state(jdbc, orphaned.rentalId()).equals("ACTIVE"));
		String orphanedIp = jdbc.sql("select host(tunnel_ip) from sessions where rental_id = 2").query(String.class).single();

		chain.reorg(1);
		Eventually.await(DEADLINE, "orphaned rental reorged out",
				() -> state(jdbc, orphaned.rentalId()).equals("REORGED_OUT"));
		assertThat(state(jdbc, kept.rentalId())).isEqualTo("ACTIVE");
		assertThat(count(jdbc, "select count(*) from leases where held_to is null")).isEqualTo(1);
		assertThat(count(jdbc, "select count(*) from audit_log where kind = 'reorged_out' and rental_id = 2")).isEqualTo(1);
		assertThat(count(jdbc, "select count(*) from chain_events where orphaned_at is not null")).isEqualTo(1);

		// The chain forgot rental 2, so the next rent gets id 2 again: a new session.
		var reborn = market.rent(3, HOST, 3600, RentalMarketClient.ZERO_KEY);
		assertThat(reborn.rentalId()).isEqualTo(orphaned.rentalId());
		Eventually.await(DEADLINE, "reborn rental active", () -> state(jdbc, reborn.rentalId()).equals("ACTIVE"));
		assertThat(count(jdbc, "select count(*) from sessions where rental_id = 2")).isEqualTo(2);
		assertThat(jdbc.sql("select renter from sessions where rental_id = 2 and state = 'ACTIVE'").query(String.class).single())
			.isEqualTo(reborn.renter().toLowerCase());
		assertThat(jdbc.sql("select host(tunnel_ip) from sessions where rental_id = 2 and state = 'ACTIVE'")
			.query(String.class)
			.single()).as("the orphaned session's address rests").isNotEqualTo(orphanedIp);
	}

	@Test
	void anEndLearnedOnlyAfterTheRentalsEndsAtIsStillRecordedAsEnded() throws Exception {
		chain = AnvilNode.startDefault();
		RentalMarketClient market = market();
		// Ended on chain well before its endsAt, but the agent hears of it only after endsAt has passed
		// (it was down, or its node was failing): the session is first over by the clock, then ENDED.
		var rental = market.rent(1, HOST, 4, RentalMarketClient.ZERO_KEY);
		market.endRental(1, rental.rentalId());
		Thread.sleep(5_000);
		agent = AgentContext.start(AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST));
		JdbcClient jdbc = agent.jdbc();
		Eventually.await(DEADLINE, "rental ended", () -> state(jdbc, rental.rentalId()).equals("ENDED"));
		assertThat(count(jdbc, "select count(*) from audit_log where rental_id = ? and kind = 'ended'",
				new BigDecimal(rental.rentalId()))).isEqualTo(1);
		assertThat(count(jdbc, "select count(*) from leases where held_to is null")).isZero();
	}

	@Test
	void anEndThatAReorganisationDropsIsUndone() {
		chain = AnvilNode.startDefault();
		RentalMarketClient market = market();
		var rental = market.rent(1, HOST, 3600, RentalMarketClient.ZERO_KEY);
		agent = AgentContext.start(AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST));
		JdbcClient jdbc = agent.jdbc();
		Eventually.await(DEADLINE, "rental active", () -> state(jdbc, rental.rentalId()).equals("ACTIVE"));
		market.endRental(1, rental.rentalId());
		Eventually.await(DEADLINE, "rental ended", () -> state(jdbc, rental.rentalId()).equals("ENDED"));

		chain.reorg(1);
		Eventually.await(DEADLINE, "the end is undone", () -> state(jdbc, rental.rentalId()).equals("ACTIVE"));
		assertThat(count(jdbc, "select count(*) from sessions")).isEqualTo(1);
		assertThat(count(jdbc, "select count(*) from leases where held_to is null")).isEqualTo(1);
	}

	@Test
	void withTwoConfirmationsARentalIsPendingUntilTwoBlocksCoverIt() {
		chain = AnvilNode.startDefault();
		RentalMarketClient market = market();
		Map<String, Object> properties = AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST);
		properties.put("chain.confirmations", "2");
		agent = AgentContext.start(properties);
		JdbcClient jdbc = agent.jdbc();

		var rental = market.rent(1, HOST, 3600, RentalMarketClient.ZERO_KEY);
		Eventually.await(DEADLINE, "seen as pending",
				() -> count(jdbc, "select count(*) from pending_rentals where rental_id = ?", new BigDecimal(rental.rentalId())) == 1);
		chain.mine(1);
		Eventually.never(Duration.ofSeconds(1), "acted on with one block on top",
				() -> count(jdbc, "select count(*) from sessions") > 0);
		chain.mine(1);
		Eventually.await(DEADLINE, "active with two blocks on top", () -> state(jdbc, rental.rentalId()).equals("ACTIVE"));
		assertThat(count(jdbc, "select count(*) from pending_rentals")).isZero();
	}

	@Test
	void ingestionResumesWithoutAGapAfterTheNodeWasDown() throws Exception {
		Path stateDirectory = Files.createTempDirectory("anvil-state");
		Path state = stateDirectory.resolve("state.json");
		chain = AnvilNode.builder().stateFile(state).start();
		RentalMarketClient market = market();
		var first = market.rent(1, HOST, 3600, RentalMarketClient.ZERO_KEY);
		agent = AgentContext.start(AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST));
		JdbcClient jdbc = agent.jdbc();
		Eventually.await(DEADLINE, "first rental active", () -> state(jdbc, first.rentalId()).equals("ACTIVE"));
		ChainIngester ingester = agent.bean(ChainIngester.class);

		chain.stop();
		Eventually.await(DEADLINE, "the outage is noticed", () -> ingester.lastError().isPresent());
		chain.start();
		List<RentalMarketClient.RentalCreated> later = List.of(market.rent(2, HOST, 3600, RentalMarketClient.ZERO_KEY),
				market.rent(3, HOST, 3600, RentalMarketClient.ZERO_KEY));
		for (var rental : later) {
			Eventually.await(DEADLINE, "rental after the outage active", () -> state(jdbc, rental.rentalId()).equals("ACTIVE"));
		}
		assertThat(count(jdbc, "select count(*) from sessions")).isEqualTo(3);
		assertThat(ingester.lastError()).isEmpty();
		Files.deleteIfExists(state);
		Files.deleteIfExists(stateDirectory);
	}

	@Test
	void aWebsocketNewHeadWakesThePollerLongBeforeItsInterval() {
		chain = AnvilNode.startDefault();
		RentalMarketClient market = market();
		Map<String, Object> properties = AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST);
		properties.put("chain.poll-interval", "60s");
		properties.put("chain.ws-url", chain.wsUrl());
		agent = AgentContext.start(properties);
		JdbcClient jdbc = agent.jdbc();
		Eventually.never(Duration.ofSeconds(2), "a session before any rental", () -> count(jdbc, "select count(*) from sessions") > 0);

		var rental = market.rent(1, HOST, 3600, RentalMarketClient.ZERO_KEY);
		Eventually.await(Duration.ofSeconds(10), "active well before the 60 s poll",
				() -> state(jdbc, rental.rentalId()).equals("ACTIVE"));
	}

	@Test
	void aDeadWebsocketDoesNotStopPolling() {
		chain = AnvilNode.startDefault();
		RentalMarketClient market = market();
		Map<String, Object> properties = AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST);
		properties.put("chain.ws-url", "ws://127.0.0.1:1");
		agent = AgentContext.start(properties);
		JdbcClient jdbc = agent.jdbc();
		var rental = market.rent(1, HOST, 3600, RentalMarketClient.ZERO_KEY);
		Eventually.await(DEADLINE, "active through polling alone", () -> state(jdbc, rental.rentalId()).equals("ACTIVE"));
	}

}
