package com.gpuflow.agent.chain;

import java.math.BigInteger;
import java.time.Duration;
import java.util.ArrayList;
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
 * keys, audit rows), against a bare {@code eth_getLogs} of the same ranges in the same run.
 * Both are repeated ({@code bench.repeats}, default 3, alternating which goes first, each agent
 * run on a fresh database) and the medians compared: on a shared 2-core machine one sample of
 * either varies by a factor of two.
 * Run: {@code mvn -Pbench test -Dtest=IngestionBenchmark [-Dbench.rentals=20000] [-Dbench.repeats=3]}.
 */
class IngestionBenchmark {

	static final String HOST = RentalMarketClient.hostId("bench-host");

	static final String TOKEN = "bench-audit-token-0123456789";

	@Test
	void backfillAgainstBareGetLogs() throws Exception {
		int rentals = Integer.getInteger("bench.rentals", 20_000);
		int repeats = Integer.getInteger("bench.repeats", 3);
		try (AnvilNode chain = AnvilNode.startDefault()) {
			RentalMarketClient market = RentalMarketClient.deploy(chain);
			market.registerHost(0, HOST, BigInteger.ONE);
			long created = System.nanoTime();
			// One transaction per hundred rentals: anvil's pool stalls with tens of thousands of
			// single transactions in it.
			bulkRent(chain, market.address(), rentals);
			System.out.printf("created %d rentals on anvil in %.1f s%n", rentals, (System.nanoTime() - created) / 1e9);
			long head = chain.blockNumber();

			List<Double> bareSeconds = new ArrayList<>();
			List<Double> agentSeconds = new ArrayList<>();
			for (int run = 0; run < repeats; run++) {
				Map<String, Object> properties = AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST);
				properties.put("gpuflow.chain.autostart", "false");
				properties.put("audit-token", TOKEN);
				try (AgentContext agent = AgentContext.start(properties)) {
					ChainNode node = agent.bean(ChainNode.class);
					if (run % 2 == 0) {
						bareSeconds.add(bare(node, head, rentals));
						agentSeconds.add(agent(agent, rentals));
					}
					else {
						agentSeconds.add(agent(agent, rentals));
						bareSeconds.add(bare(node, head, rentals));
					}
				}
				System.out.printf("run %d: bare %.2f s, agent %.2f s%n", run + 1, bareSeconds.get(run), agentSeconds.get(run));
			}
			double bare = median(bareSeconds);
			double agent = median(agentSeconds);
			System.out.println();
			System.out.println("| backfill of " + rentals + " RentalCreated, median of " + repeats + " | seconds | events/s | runs (s) |");
			System.out.println("|---|---|---|---|");
			System.out.printf("| bare eth_getLogs (the agent's ranges) | %.2f | %.0f | %s |%n", bare, rentals / bare, runs(bareSeconds));
			System.out.printf("| agent (fetch + events, sessions, keys, leases, audit committed) | %.2f | %.0f | %s |%n", agent,
					rentals / agent, runs(agentSeconds));
			System.out.printf("| ratio agent / bare | | %.2f (target >= 0.67) | |%n", bare / agent);
		}
	}

	/** The ranges the agent asks for (same sizer, same start), fetched and decoded by the same client, nothing else. */
	private static double bare(ChainNode node, long head, int rentals) throws Exception {
		LogRangeSizer ranges = new LogRangeSizer(2_000, 10_000);
		long start = System.nanoTime();
		int logs = 0;
		for (long from = 0; from <= head;) {
			long to = Math.min(head, from + ranges.size() - 1);
			logs += node.rentalLogs(from, to).size();
			ranges.succeeded();
			from = to + 1;
		}
		double seconds = (System.nanoTime() - start) / 1e9;
		assertThat(logs).isEqualTo(rentals);
		return seconds;
	}

	/**
	 * From an empty database until the agent has caught up: every range committed with its events,
	 * sessions, generated keys, leases and audit rows (the checks after the clock stops say so).
	 */
	private static double agent(AgentContext agent, int rentals) throws Exception {
		ChainIngester ingester = agent.bean(ChainIngester.class);
		long start = System.nanoTime();
		while (ingester.step()) {
			// keep going until caught up
		}
		double seconds = (System.nanoTime() - start) / 1e9;
		var jdbc = agent.jdbc();
		assertThat(jdbc.sql("select count(*) from chain_events").query(Long.class).single()).isEqualTo(rentals);
		assertThat(jdbc.sql("select count(*) from sessions where state = 'ACTIVE' and peer_public_key is not null"
				+ " and sealed_private_key is not null and tunnel_ip is not null").query(Long.class).single()).isEqualTo(rentals);
		assertThat(jdbc.sql("select count(*) from leases where held_to is null").query(Long.class).single()).isEqualTo(rentals);
		assertThat(jdbc.sql("select count(*) from audit_log").query(Long.class).single()).isEqualTo(2L * rentals);
		var response = java.net.http.HttpClient.newHttpClient()
			.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + agent.httpPort() + "/v1/audit/verify"))
				.header("Authorization", "Bearer " + TOKEN)
				.build(), java.net.http.HttpResponse.BodyHandlers.ofString());
		assertThat(response.body()).contains("\"ok\":true").contains("\"events\":" + 2 * rentals);
		return seconds;
	}

	private static double median(List<Double> values) {
		List<Double> sorted = new ArrayList<>(values);
		java.util.Collections.sort(sorted);
		int n = sorted.size();
		return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
	}

	private static String runs(List<Double> values) {
		return String.join(", ", values.stream().map(v -> String.format("%.2f", v)).toList());
	}

	/** Deploys contracts/out/test/BulkRenter.bin and has it rent {@code rentals} times, 100 per transaction. */
	static void bulkRent(AnvilNode chain, String market, int rentals) throws Exception {
		org.web3j.protocol.Web3j web3j = chain.web3j();
		org.web3j.tx.RawTransactionManager sender = new org.web3j.tx.RawTransactionManager(web3j,
				com.gpuflow.agent.testsupport.DevAccounts.credentials(9), chain.chainId());
		java.math.BigInteger gasPrice = web3j.ethGasPrice().send().getGasPrice().multiply(java.math.BigInteger.TWO);
		String bytecode = "0x" + java.nio.file.Files
			.readString(com.gpuflow.agent.testsupport.ProjectPaths.root().resolve("contracts/out/test/BulkRenter.bin"))
			.trim();
		String deployHash = sender.sendTransaction(gasPrice, java.math.BigInteger.valueOf(1_000_000), null, bytecode,
				java.math.BigInteger.ZERO, true).getTransactionHash();
		String bulk = receipt(web3j, deployHash).getContractAddress();
		for (int sent = 0; sent < rentals; sent += 100) {
			int count = Math.min(100, rentals - sent);
			org.web3j.abi.datatypes.Function rentMany = new org.web3j.abi.datatypes.Function("rentMany",
					List.of(new org.web3j.abi.datatypes.Address(market),
							new org.web3j.abi.datatypes.generated.Bytes32(org.web3j.utils.Numeric.hexStringToByteArray(HOST)),
							new org.web3j.abi.datatypes.generated.Uint64(86_400),
							new org.web3j.abi.datatypes.generated.Uint256(count)),
					List.of());
			String hash = sender.sendTransaction(gasPrice, java.math.BigInteger.valueOf(25_000_000), bulk,
					org.web3j.abi.FunctionEncoder.encode(rentMany), BigInteger.valueOf(86_400L * count)).getTransactionHash();
			if (!receipt(web3j, hash).isStatusOK()) {
				throw new IllegalStateException("bulk rent reverted");
			}
		}
	}

	static org.web3j.protocol.core.methods.response.TransactionReceipt receipt(org.web3j.protocol.Web3j web3j, String hash)
			throws Exception {
		long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
		while (System.nanoTime() < deadline) {
			var receipt = web3j.ethGetTransactionReceipt(hash).send().getTransactionReceipt();
			if (receipt.isPresent()) {
				return receipt.get();
			}
			Thread.sleep(5);
		}
		throw new IllegalStateException("no receipt for " + hash + " within 30 s");
	}

}
