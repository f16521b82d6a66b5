package com.gpuflow.agent.wireguard;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import static com.gpuflow.agent.wireguard.Keys.key;
import static org.assertj.core.api.Assertions.assertThat;

class WgBatchTest {

	@Test
	void anEmptyPlanRunsNothing() {
		assertThat(WgBatch.render(PeerPlan.EMPTY)).isEmpty();
	}

	@Test
	void aSmallPlanIsOneWgSetWithRemovalsFirstAndKeepalivesLast() {
		Peer gone = Peer.of(key(1), List.of("10.213.0.2"), 25);
		Peer added = Peer.of(key(2), List.of("10.213.0.3"), 25);
		Peer stays = Peer.of(key(3), List.of("10.213.0.4"), 25);
		PeerPlan plan = PeerDiff.between(List.of(added, stays), List.of(gone, stays));

		List<WgInvocation> runs = WgBatch.render(plan);

		assertThat(runs).containsExactly(new WgInvocation.Set(List.of("peer", key(1), "remove", "peer", key(2),
				"allowed-ips", "10.213.0.3/32", "peer", key(2), "persistent-keepalive", "25")));
		assertThat(((WgInvocation.Set) runs.get(0)).args()).doesNotContain(key(3));
	}

	@Test
	void aPeerWithoutKeepaliveGetsNoKeepaliveArgument() {
		PeerPlan plan = PeerDiff.between(List.of(Peer.of(key(1), List.of("10.213.0.2"), 0)), List.of());

		assertThat(WgBatch.render(plan))
			.containsExactly(new WgInvocation.Set(List.of("peer", key(1), "allowed-ips", "10.213.0.2/32")));
	}

	@Test
	void thousandsOfPeersStillFitOneInvocation() {
		List<Peer> wanted = peers(0, 4000);

		List<WgInvocation> runs = WgBatch.render(PeerDiff.between(wanted, List.of()));

		assertThat(runs).hasSize(1).first().isInstanceOf(WgInvocation.Set.class);
	}

	@Test
	void overTheArgumentLimitRemovalsAreChunkedAndTheRestGoesThroughOneConfigFile() {
		List<Peer> live = peers(0, 20_000);
		List<Peer> wanted = peers(10_000, 30_000);

		List<WgInvocation> runs = WgBatch.render(PeerDiff.between(wanted, live));

		List<WgInvocation.Set> sets = runs.stream()
			.filter(WgInvocation.Set.class::isInstance)
			.map(WgInvocation.Set.class::cast)
			.toList();
		assertThat(sets).isNotEmpty()
			.allSatisfy(set -> assertThat(WgBatch.cost(List.of(set.args()))).isLessThanOrEqualTo(WgBatch.DEFAULT_ARGUMENT_BUDGET))
			.allSatisfy(set -> assertThat(set.args()).doesNotContain("allowed-ips"));
		assertThat(sets.stream().mapToLong(set -> set.args().stream().filter("remove"::equals).count()).sum())
			.isEqualTo(10_000);
		assertThat(runs.get(runs.size() - 1)).isInstanceOfSatisfying(WgInvocation.AddConf.class,
				conf -> assertThat(conf.peers()).isEqualTo(10_000));
		FakeDevice device = new FakeDevice(live);
		device.apply(runs);
		assertThat(device.peers()).containsExactlyInAnyOrderElementsOf(wanted);
		assertThat(device.silentStrips).isEmpty();
		assertThat(device.touched).as("peers 10,000-19,999 already matched").doesNotContain(key(15_000));
	}

	@Test
	void aConfigSectionCarriesTheFullWantedStateBecauseItReplacesAllowedIps() {
		String config = WgBatch.config(List.of(Peer.of(key(1), List.of("10.213.0.3", "10.213.0.2"), 25),
				Peer.of(key(2), List.of("10.213.0.4"), 0)));

		assertThat(config).isEqualTo("""
				[Peer]
				PublicKey = %s
				AllowedIPs = 10.213.0.2/32, 10.213.0.3/32
				PersistentKeepalive = 25

				[Peer]
				PublicKey = %s
				AllowedIPs = 10.213.0.4/32
				PersistentKeepalive = off

				""".formatted(key(1), key(2)));
	}

	static List<Peer> peers(int from, int to) {
		List<Peer> peers = new ArrayList<>();
		for (int i = from; i < to; i++) {
			peers.add(Peer.of(key(i), List.of("10.213." + (i / 250) + "." + (2 + i % 250)), 25));
		}
		return peers;
	}

}
