package com.gpuflow.agent.e2e;

import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import com.gpuflow.agent.testsupport.Ports;
import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.RenterNamespace;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

import org.springframework.util.FileSystemUtils;

/**
 * Confirmation to peer live with {@code CHAIN_CONFIRMATIONS=0}: 200 rentals paid one after another
 * on anvil, a real wireguard-go interface; per session the time from the ingester's commit
 * ({@code confirmed_at}) to the reconciler's apply ({@code peer_added_at}), both on the agent's
 * clock. Target: p99 under 1 s. Run: {@code mvn -Pbench test -Dtest=ConfirmationToLiveBenchmark}.
 */
class ConfirmationToLiveBenchmark {

	static final String HOST = RentalMarketClient.hostId("latency-host");

	@Test
	void confirmationToPeerLive() throws Exception {
		int rentals = Integer.getInteger("bench.rentals", 200);
		String wgInterface = RenterNamespace.uniqueName() + "b";
		Path keyDirectory = Files.createTempDirectory("gpuflow-bench-key");
		try (AnvilNode chain = AnvilNode.startDefault()) {
			RentalMarketClient market = RentalMarketClient.deploy(chain);
			market.registerHost(0, HOST, BigInteger.ONE);
			Map<String, Object> properties = AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST);
			AgentContext.withWireGuard(properties, wgInterface,
					"10.213." + 2 * ThreadLocalRandom.current().nextInt(128) + ".0/23",
					Ports.udp(), keyDirectory.resolve("server.key"));
			try (AgentContext agent = AgentContext.start(properties)) {
				long start = System.nanoTime();
				for (int i = 0; i < rentals; i++) {
					market.rent(1 + i % 9, HOST, 3_600, RentalMarketClient.ZERO_KEY);
				}
				double sendSeconds = (System.nanoTime() - start) / 1e9;
				Eventually.await(Duration.ofSeconds(60), "every peer live",
						() -> agent.jdbc().sql("select count(*) from sessions where peer_added_at is not null")
							.query(Long.class)
							.single() == rentals);
				List<Double> millis = agent.jdbc()
					.sql("select extract(epoch from peer_added_at - confirmed_at) * 1000 from sessions order by 1")
					.query(Double.class)
					.list();
				assertThat(millis).hasSize(rentals);
				long onInterface = RenterNamespace.run(List.of("wg", "show", wgInterface, "peers"), Duration.ofSeconds(5))
					.output()
					.lines()
					.count();
				assertThat(onInterface).isEqualTo(rentals);
				System.out.println();
				System.out.printf("| %d rentals, CHAIN_CONFIRMATIONS=0, sent in %.1f s | ms |%n", rentals, sendSeconds);
				System.out.println("|---|---|");
				System.out.printf("| confirmation to peer live p50 | %.0f |%n", percentile(millis, 50));
				System.out.printf("| confirmation to peer live p95 | %.0f |%n", percentile(millis, 95));
				System.out.printf("| confirmation to peer live p99 | %.0f (target < 1000) |%n", percentile(millis, 99));
				System.out.printf("| confirmation to peer live max | %.0f |%n", millis.get(millis.size() - 1));
			}
		}
		finally {
			RenterNamespace.removeAgentInterface(wgInterface);
			// The server key and whatever the agent keeps beside it (the challenge secret, a TLS certificate).
			FileSystemUtils.deleteRecursively(keyDirectory);
		}
	}

	static double percentile(List<Double> sorted, int p) {
		int index = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
		return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
	}

}
