package com.gpuflow.agent.chain;

import java.math.BigInteger;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Backfill throughput: N RentalCreated events read and persisted by the agent (sessions, leases,
 * keys, audit rows), against a bare {@code eth_getLogs} of the same range in the same run.
 * Run: {@code mvn -Pbench test -Dtest=IngestionBenchmark [-Dbench.rentals=20000]}.
 */
class IngestionBenchmark {

	static final String HOST = RentalMarketClient.hostId("bench-host");

	@Test
	void backfillAgainstBareGetLogs() throws Exception {
		int rentals = Integer.getInteger("bench.rentals", 20_000);
		try (AnvilNode chain = AnvilNode.startDefault()) {
			RentalMarketClient market = RentalMarketClient.deploy(chain);
			market.registerHost(0, HOST, BigInteger.ONE);
			long created = System.nanoTime();
			// anvil's automine stalls with ~20,000 transactions in its pool: send them in waves.
			for (int sent = 0; sent < rentals; sent += 1_000) {
				market.rentMany(Math.min(1_000, rentals - sent), HOST, 86_400, 10, i -> RentalMarketClient.ZERO_KEY,
						Duration.ofMinutes(5));
			}
			System.out.printf("created %d rentals on anvil in %.1f s%n", rentals, (System.nanoTime() - created) / 1e9);
			long head = chain.blockNumber();

			Map<String, Object> properties = AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST);
			properties.put("gpuflow.chain.autostart", "false");
			try (AgentContext agent = AgentContext.start(properties)) {
				ChainNode node = agent.bean(ChainNode.class);
				// Bare fetch: the same ranges the agent asks for, nothing else.
				long bareStart = System.nanoTime();
				int bareLogs = 0;
				for (long from = 0; from <= head; from += 2_000) {
					List<ChainLog> logs = node.rentalLogs(from, Math.min(head, from + 1_999));
					bareLogs += logs.size();
				}
				double bareSeconds = (System.nanoTime() - bareStart) / 1e9;

				ChainIngester ingester = agent.bean(ChainIngester.class);
				long agentStart = System.nanoTime();
				while (ingester.step()) {
					// keep going until caught up
				}
				double agentSeconds = (System.nanoTime() - agentStart) / 1e9;
				long stored = agent.jdbc().sql("select count(*) from sessions").query(Long.class).single();

				assertThat(bareLogs).isEqualTo(rentals);
				assertThat(stored).isEqualTo(rentals);
				double bareRate = bareLogs / bareSeconds;
				double agentRate = stored / agentSeconds;
				System.out.println();
				System.out.println("| backfill of " + rentals + " RentalCreated | seconds | events/s |");
				System.out.println("|---|---|---|");
				System.out.printf("| bare eth_getLogs (2,000-block ranges) | %.2f | %.0f |%n", bareSeconds, bareRate);
				System.out.printf("| agent (fetch + sessions, leases, keys, audit) | %.2f | %.0f |%n", agentSeconds, agentRate);
				System.out.printf("| ratio agent / bare | | %.2f (target >= 0.67) |%n", agentRate / bareRate);
			}
		}
	}

}
