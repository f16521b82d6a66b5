package com.gpuflow.agent.faults;

import java.math.BigInteger;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One chain reader for 1, 6 and 200 hosts: confirmation (the receipt of the rent transaction, with
 * CHAIN_CONFIRMATIONS=0) to session written (its {@code confirmed_at}), and JSON-RPC calls per
 * second seen by a counting proxy in front of the node, idle and under load. The one-host run is
 * the baseline, measured in the same run; the other hosts are simulated: registered in the
 * database (and on chain) without an agent of their own, their sessions checked in the database.
 * Run: {@code mvn -Pbench test -Dtest=FleetBenchmark [-Dbench.rentals=60]}.
 */
class FleetBenchmark {

	static final long POLL_MILLIS = 200;

	record Figures(int hosts, double p50, double p99, double rpcPerSecondIdle, double rpcPerSecondLoaded,
			double getLogsPerSecond) {
	}

	@Test
	void oneReaderForOneSixAndTwoHundredHosts() throws Exception {
		int rentals = Integer.getInteger("bench.rentals", 60);
		try (AnvilNode chain = AnvilNode.builder().accounts(11).start()) {
			RentalMarketClient market = RentalMarketClient.deploy(chain);
			List<String> hosts = new ArrayList<>();
			for (int i = 0; i < 200; i++) {
				String host = RentalMarketClient.hostId("bench-fleet-" + i + "-" + ThreadLocalRandom.current().nextLong());
				market.registerHost(0, host, BigInteger.ONE);
				hosts.add(host);
			}
			List<Figures> figures = new ArrayList<>();
			for (int count : new int[] { 1, 6, 200 }) {
				figures.add(run(chain, market, hosts.subList(0, count), rentals));
			}
			Figures one = figures.get(0);
			System.out.println();
			System.out.println("| hosts (one reader) | confirmation→session p50 ms | p99 ms | RPC calls/s idle | under load"
					+ " | eth_getLogs/s | p99 vs 1 host | RPC/s vs 1 host |");
			System.out.println("|---|---|---|---|---|---|---|---|");
			for (Figures f : figures) {
				System.out.printf("| %d%s | %.0f | %.0f | %.1f | %.1f | %.1f | %.2f | %.2f |%n", f.hosts(),
						f.hosts() == 1 ? " (baseline)" : " (simulated)", f.p50(), f.p99(), f.rpcPerSecondIdle(),
						f.rpcPerSecondLoaded(), f.getLogsPerSecond(), f.p99() / one.p99(),
						f.rpcPerSecondLoaded() / one.rpcPerSecondLoaded());
			}
		}
	}

	/** One agent (the reader) for {@code hosts}; the first is its own, the others only registered. */
	private Figures run(AnvilNode chain, RentalMarketClient market, List<String> hosts, int rentals) throws Exception {
		TestDatabase.Connection database = TestDatabase.create();
		try (JsonRpcChaosProxy proxy = new JsonRpcChaosProxy(chain.rpcUrl(), 0.0, Integer.MAX_VALUE, hosts.get(0), 1)) {
			Map<String, Object> properties = AgentContext.properties(database, chain, market.address(), hosts.get(0));
			properties.put("chain.rpc-url", proxy.url());
			properties.put("chain.poll-interval", POLL_MILLIS + "ms");
			// After the previous run's last rental (the start block is read inclusive): each run counts only its own.
			properties.put("chain.start-block", Long.toString(chain.blockNumber() + 1));
			try (AgentContext agent = AgentContext.start(properties)) {
				for (int i = 1; i < hosts.size(); i++) {
					agent.jdbc()
						.sql("insert into hosts (host_id, contract, wg_cidr) values (?, ?, ?)")
						.params(hosts.get(i), market.address().toLowerCase(), "10.77.0.0/16")
						.update();
				}
				Eventually.await(Duration.ofSeconds(30), "the agent reads", () -> agent.jdbc()
					.sql("select count(*) from chain_reader")
					.query(Long.class)
					.single() == 1);
				AgentProcess.sleep(2_000); // the new hosts' first ranges
				long idleCalls = proxy.calls();
				AgentProcess.sleep(5_000);
				double idle = (proxy.calls() - idleCalls) / 5.0;

				long loadCalls = proxy.calls();
				long loadLogs = proxy.calls("eth_getLogs");
				long started = System.nanoTime();
				Map<BigInteger, Instant> confirmed = new HashMap<>();
				for (int i = 0; i < rentals; i++) {
					String host = hosts.get(i % hosts.size());
					RentalMarketClient.RentalCreated rental = market.rent(1 + i % 10, host, 3_600, FaultRig.renterKey());
					confirmed.put(rental.rentalId(), Instant.now());
				}
				Eventually.await(Duration.ofSeconds(60), "every session written", () -> agent.jdbc()
					.sql("select count(*) from sessions")
					.query(Long.class)
					.single() == rentals);
				double seconds = (System.nanoTime() - started) / 1e9;
				double loaded = (proxy.calls() - loadCalls) / seconds;
				double getLogs = (proxy.calls("eth_getLogs") - loadLogs) / seconds;
				List<Double> latencies = new ArrayList<>();
				agent.jdbc().sql("select rental_id, confirmed_at, host_id from sessions").query((rs, n) -> {
					Instant written = rs.getObject(2, OffsetDateTime.class).toInstant();
					latencies.add((double) Duration.between(confirmed.get(rs.getBigDecimal(1).toBigIntegerExact()), written)
						.toMillis());
					return null;
				}).list();
				assertThat(agent.jdbc().sql("select count(distinct host_id) from sessions").query(Long.class).single())
					.isEqualTo(Math.min(hosts.size(), rentals));
				latencies.sort(Double::compare);
				Figures figures = new Figures(hosts.size(), latencies.get(latencies.size() / 2),
						latencies.get((int) Math.ceil(latencies.size() * 0.99) - 1), idle, loaded, getLogs);
				System.out.println(figures);
				return figures;
			}
		}
	}

}
