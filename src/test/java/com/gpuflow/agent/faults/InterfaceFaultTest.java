package com.gpuflow.agent.faults;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.RenterNamespace;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Hands and crashes on the interface: deleted, flushed of every peer, one peer edited, its
 * wireguard-go killed. Each is restored within one RECONCILE_INTERVAL (measured from the moment of
 * the fault until {@code wg show} holds exactly the active sessions again).
 */
class InterfaceFaultTest {

	static final Duration INTERVAL = Duration.ofSeconds(2);

	/** A pass that finds the interface gone re-creates it, which takes wireguard-go a moment. */
	static final Duration SLACK = Duration.ofMillis(1_500);

	@Test
	void deletedFlushedEditedOrKilledTheInterfaceIsRestoredWithinOneInterval() throws Exception {
		int sessions = FaultRig.longForm() ? 500 : 30;
		int rounds = FaultRig.longForm() ? 5 : 1;
		try (FaultRig rig = new FaultRig(AnvilNode.startDefault())) {
			Map<String, String> env = rig.environment(true, "10.213." + rig.subnet + ".0/" + (FaultRig.longForm() ? 22 : 24));
			if (FaultRig.longForm()) {
				env.put("WG_CIDR", "10." + (216 + rig.subnet % 8) + "." + (rig.subnet / 4 * 4) + ".0/22");
			}
			env.put("RECONCILE_INTERVAL", INTERVAL.toSeconds() + "s");
			AgentProcess agent = rig.agent(env).start();
			rig.market.rentMany(sessions, rig.host, 3_600, 10,
					i -> (i % 2 == 0) ? RentalMarketClient.ZERO_KEY : FaultRig.renterKey(), Duration.ofMinutes(2));
			Eventually.await(Duration.ofSeconds(60), sessions + " peers live",
					() -> rig.livePeersIfPresent().map(Map::size).orElse(0) == sessions);
			Map<String, String> wanted = rig.wantedPeers();
			assertThat(rig.livePeers()).isEqualTo(wanted);

			Map<String, List<Long>> restored = new LinkedHashMap<>();
			for (int round = 0; round < rounds; round++) {
				restored.computeIfAbsent("ip link del", k -> new ArrayList<>())
					.add(restore(rig, wanted, () -> RenterNamespace.sh("ip", "link", "del", rig.wgInterface)));

				restored.computeIfAbsent("all peers removed (wg set ... remove)", k -> new ArrayList<>())
					.add(restore(rig, wanted, () -> {
						List<String> command = new ArrayList<>(List.of("wg", "set", rig.wgInterface));
						wanted.keySet().forEach(key -> command.addAll(List.of("peer", key, "remove")));
						RenterNamespace.sh(command.toArray(String[]::new));
					}));

				String edited = wanted.keySet().iterator().next();
				restored.computeIfAbsent("one peer's allowed-ips edited", k -> new ArrayList<>())
					.add(restore(rig, wanted, () -> RenterNamespace.sh("wg", "set", rig.wgInterface, "peer", edited,
							"allowed-ips", "10.213." + rig.subnet + ".254/32")));

				String stranger = WireGuardKeys.generate().publicKey();
				restored.computeIfAbsent("a stranger peer added by hand", k -> new ArrayList<>())
					.add(restore(rig, wanted, () -> RenterNamespace.sh("wg", "set", rig.wgInterface, "peer", stranger,
							"allowed-ips", "10.213." + rig.subnet + ".253/32")));

				restored.computeIfAbsent("wireguard-go killed (kill -9)", k -> new ArrayList<>())
					.add(restore(rig, wanted, () -> {
						long pid = rig.wireguardGoPid().orElseThrow(() -> new AssertionError("no wireguard-go for " + rig.wgInterface));
						ProcessHandle.of(pid).orElseThrow().destroyForcibly();
					}));
			}

			Map<String, Object> figures = new LinkedHashMap<>();
			figures.put("peers", sessions);
			figures.put("RECONCILE_INTERVAL", INTERVAL.toMillis() + " ms (+" + SLACK.toMillis() + " ms allowed to re-create)");
			restored.forEach((fault, ms) -> figures.put(fault, "restored in " + ms + " ms"));
			figures.put("interface restores counted", rig.metric(agent, "gpuflow_wireguard_interface_restores_total").orElse(-1.0));
			figures.put("drift repairs counted", rig.metric(agent, "gpuflow_reconcile_drift_repairs_total").orElse(-1.0));
			figures.putAll(rig.assertMatchesChain(agent, true, Duration.ofSeconds(30)));
			FaultRig.printFigures("InterfaceFaultTest", figures);
			for (Map.Entry<String, List<Long>> entry : restored.entrySet()) {
				assertThat(entry.getValue()).as(entry.getKey())
					.allSatisfy(ms -> assertThat(ms).isLessThanOrEqualTo(INTERVAL.plus(SLACK).toMillis()));
			}
		}
	}

	/** Does the damage and returns the milliseconds until the interface holds exactly {@code wanted} again. */
	static long restore(FaultRig rig, Map<String, String> wanted, Runnable damage) {
		damage.run();
		long damagedAt = System.nanoTime();
		Eventually.await(Duration.ofSeconds(30), "interface restored",
				() -> rig.livePeersIfPresent().map(wanted::equals).orElse(false));
		long ms = (System.nanoTime() - damagedAt) / 1_000_000;
		// Let the next fault meet a settled interface (a re-created one may still be finishing its setup).
		AgentProcess.sleep(500);
		return ms;
	}

}
