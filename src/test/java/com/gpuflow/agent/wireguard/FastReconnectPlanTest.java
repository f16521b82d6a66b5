package com.gpuflow.agent.wireguard;

import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;

import static com.gpuflow.agent.wireguard.Keys.key;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A peer put back on the interface carries the renter's last endpoint, so the host starts the
 * handshake; a peer that stays is never given one (the device learns a roaming renter's address).
 */
class FastReconnectPlanTest {

	static Peer peer(int n) {
		return Peer.of(key(n), List.of("10.213.0." + (n + 1)), 25);
	}

	@Test
	void anAddedPeerIsRenderedWithItsLastEndpointBeforeItsKeepalive() {
		PeerPlan plan = PeerDiff.between(List.of(peer(1)), List.of()).withAddedEndpoints(Map.of(key(1), "10.214.0.2:51000"));
		assertThat(WgBatch.render(plan)).containsExactly(new WgInvocation.Set(List.of("peer", key(1), "allowed-ips",
				"10.213.0.2/32", "endpoint", "10.214.0.2:51000", "peer", key(1), "persistent-keepalive", "25")));
	}

	@Test
	void anAddedPeerWithoutAKnownEndpointIsRenderedWithout() {
		PeerPlan plan = PeerDiff.between(List.of(peer(1), peer(2)), List.of())
			.withAddedEndpoints(Map.of(key(2), "[fd00::2]:51000"));
		List<String> args = ((WgInvocation.Set) WgBatch.render(plan).get(0)).args();
		assertThat(args).containsSubsequence("peer", key(1), "allowed-ips", "10.213.0.2/32", "peer", key(2));
		assertThat(args).containsSubsequence("peer", key(2), "allowed-ips", "10.213.0.3/32", "endpoint", "[fd00::2]:51000");
		assertThat(args.stream().filter("endpoint"::equals)).hasSize(1);
	}

	@Test
	void aLivePeerWhoseAddressChangesKeepsTheEndpointTheDeviceLearned() {
		Peer live = new Peer(key(1), new java.util.TreeSet<>(List.of("10.213.0.9/32")), 25, Optional.of("10.214.0.6:4000"));
		PeerPlan plan = PeerDiff.between(List.of(peer(1)), List.of(live)).withAddedEndpoints(Map.of(key(1), "10.214.0.2:51000"));
		assertThat(plan.updates()).hasSize(1);
		assertThat(WgBatch.render(plan)).containsExactly(
				new WgInvocation.Set(List.of("peer", key(1), "allowed-ips", "10.213.0.2/32")));
	}

	@Test
	void aLargePlanCarriesTheEndpointInItsConfigFile() {
		PeerPlan plan = PeerDiff.between(List.of(peer(1)), List.of()).withAddedEndpoints(Map.of(key(1), "10.214.0.2:51000"));
		List<WgInvocation> runs = WgBatch.render(plan, 10);
		assertThat(runs).hasSize(1);
		assertThat(((WgInvocation.AddConf) runs.get(0)).config()).contains("Endpoint = 10.214.0.2:51000");
	}

	@Test
	void theEndpointDoesNotMakeTheNextPassPlanAnything() {
		PeerPlan plan = PeerDiff.between(List.of(peer(1)), List.of()).withAddedEndpoints(Map.of(key(1), "10.214.0.2:51000"));
		Peer asApplied = plan.additions().get(0);
		assertThat(asApplied.endpoint()).contains("10.214.0.2:51000");
		assertThat(PeerDiff.between(List.of(peer(1)), List.of(asApplied)).isEmpty()).isTrue();
	}

}
