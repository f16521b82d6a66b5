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
			// One transaction per hundred rentals: anvil's pool stalls with tens of thousands of
			// single transactions in it.
			bulkRent(chain, market.address(), rentals);
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
