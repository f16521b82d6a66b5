package com.gpuflow.agent.wireguard;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.TreeSet;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

import static com.gpuflow.agent.wireguard.Keys.key;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

class PeerDiffTest {

	static final String A = key(1);

	static final String B = key(2);

	static final String C = key(3);

	static Peer peer(String key, int keepalive, String... ips) {
		return Peer.of(key, List.of(ips), keepalive);
	}

	@Test
	void nothingWantedAndNothingLivePlansNothing() {
		assertThat(PeerDiff.between(List.of(), List.of()).isEmpty()).isTrue();
	}

	@Test
	void identicalSetsPlanNothing() {
		List<Peer> peers = List.of(peer(A, 25, "10.213.0.2"), peer(B, 25, "10.213.0.3"));
		assertThat(PeerDiff.between(peers, peers)).isEqualTo(PeerPlan.EMPTY);
	}

	@Nested
	class AddNewPeer {

		@Test
		void addsOnlyTheMissingPeerAndLeavesTheOthersUntouched() {
			PeerPlan plan = PeerDiff.between(List.of(peer(A, 25, "10.213.0.2"), peer(B, 25, "10.213.0.3")),
					List.of(peer(A, 25, "10.213.0.2")));

			assertThat(plan.additions()).containsExactly(peer(B, 25, "10.213.0.3"));
			assertThat(plan.updates()).isEmpty();
			assertThat(plan.removals()).isEmpty();
			assertThat(plan.releases()).isEmpty();
			FakeDevice device = new FakeDevice(List.of(peer(A, 25, "10.213.0.2")));
			device.apply(WgBatch.render(plan));
			assertThat(device.touched).containsOnly(B);
		}

	}

	@Nested
	class RemovePeer {

		@Test
		void removesOnlyThePeerNoLongerWanted() {
			PeerPlan plan = PeerDiff.between(List.of(peer(A, 25, "10.213.0.2")),
					List.of(peer(A, 25, "10.213.0.2"), peer(B, 25, "10.213.0.3")));

			assertThat(plan.removals()).extracting(Peer::publicKey).containsExactly(B);
			assertThat(plan.additions()).isEmpty();
			assertThat(plan.updates()).isEmpty();
		}

		@Test
		void removesEveryLivePeerWhenNothingIsWanted() {
			PeerPlan plan = PeerDiff.between(List.of(), List.of(peer(A, 25, "10.213.0.2"), peer(B, 0)));

			assertThat(plan.removals()).extracting(Peer::publicKey).containsExactlyInAnyOrder(A, B);
		}

	}

	@Nested
	class UpdatePeer {

		@Test
		void comparesAllowedIpsAsSetsSoOrderAndNotationDoNotMatter() {
			Peer wanted = peer(A, 25, "10.213.0.3", "10.213.0.2/32");
			Peer live = peer(A, 25, "10.213.0.2/32", "10.213.0.3/32");

			assertThat(PeerDiff.between(List.of(wanted), List.of(live)).isEmpty()).isTrue();
		}

		@Test
		void changedAllowedIpsAreAnUpdateNotARemoveAndAdd() {
			PeerPlan plan = PeerDiff.between(List.of(peer(A, 25, "10.213.0.2", "10.213.0.9")),
					List.of(peer(A, 25, "10.213.0.2")));

			assertThat(plan.removals()).isEmpty();
			assertThat(plan.additions()).isEmpty();
			assertThat(plan.updates()).singleElement().satisfies(update -> {
				assertThat(update.willChangeIps()).isTrue();
				assertThat(update.willChangeKeepalive()).isFalse();
			});
		}

		@Test
		void changedKeepaliveAloneSetsOnlyTheKeepalive() {
			PeerPlan plan = PeerDiff.between(List.of(peer(A, 25, "10.213.0.2")), List.of(peer(A, 0, "10.213.0.2")));

			assertThat(plan.updates()).singleElement().satisfies(update -> {
				assertThat(update.willChangeKeepalive()).isTrue();
				assertThat(update.willChangeIps()).isFalse();
			});
			assertThat(WgBatch.render(plan))
				.containsExactly(new WgInvocation.Set(List.of("peer", A, "persistent-keepalive", "25")));
		}

		@Test
		void aRoamingRenterEndpointIsNotADifferenceWhenNoEndpointIsWanted() {
			Peer live = new Peer(A, new TreeSet<>(List.of("10.213.0.2/32")), 25, Optional.of("192.0.2.7:40000"));

			assertThat(PeerDiff.between(List.of(peer(A, 25, "10.213.0.2")), List.of(live)).isEmpty()).isTrue();
		}

		@Test
		void aWantedEndpointThatDiffersIsAnUpdate() {
			Peer wanted = new Peer(A, new TreeSet<>(List.of("10.213.0.2/32")), 25, Optional.of("192.0.2.8:51820"));
			Peer live = new Peer(A, new TreeSet<>(List.of("10.213.0.2/32")), 25, Optional.of("192.0.2.7:51820"));

			PeerPlan plan = PeerDiff.between(List.of(wanted), List.of(live));

			assertThat(plan.updates()).singleElement().satisfies(u -> assertThat(u.willChangeEndpoint()).isTrue());
			assertThat(WgBatch.render(plan))
				.containsExactly(new WgInvocation.Set(List.of("peer", A, "endpoint", "192.0.2.8:51820")));
		}

	}

	@Nested
	class AddressReuse {

		@Test
		void anAddressTakenFromARemovedPeerIsFreedByTheRemovalFirst() {
			List<Peer> live = List.of(peer(A, 25, "10.213.0.2"));
			PeerPlan plan = PeerDiff.between(List.of(peer(B, 25, "10.213.0.2")), live);

			assertThat(plan.releases()).isEmpty();
			List<WgInvocation> runs = WgBatch.render(plan);
			assertThat(runs).containsExactly(new WgInvocation.Set(List.of("peer", A, "remove", "peer", B, "allowed-ips",
					"10.213.0.2/32", "peer", B, "persistent-keepalive", "25")));
			FakeDevice device = new FakeDevice(live);
			device.apply(runs);
			assertThat(device.silentStrips).isEmpty();
		}

		@Test
		void aStayingPeerReleasesAnAddressBeforeAnotherPeerTakesIt() {
			List<Peer> live = List.of(peer(A, 25, "10.213.0.2", "10.213.0.5"));
			List<Peer> wanted = List.of(peer(A, 25, "10.213.0.5"), peer(B, 25, "10.213.0.2"));

			PeerPlan plan = PeerDiff.between(wanted, live);

			assertThat(plan.releases()).containsExactly(peer(A, 25, "10.213.0.5"));
			FakeDevice device = new FakeDevice(live);
			device.apply(WgBatch.render(plan));
			assertThat(device.silentStrips).isEmpty();
			assertThat(device.peers()).containsExactlyInAnyOrderElementsOf(wanted);
		}

		@Test
		void twoStayingPeersSwapAddressesWithoutEverSharingOne() {
			List<Peer> live = List.of(peer(A, 25, "10.213.0.2"), peer(B, 25, "10.213.0.3"));
			List<Peer> wanted = List.of(peer(A, 25, "10.213.0.3"), peer(B, 25, "10.213.0.2"));

			PeerPlan plan = PeerDiff.between(wanted, live);

			assertThat(plan.releases()).containsExactlyInAnyOrder(peer(A, 25), peer(B, 25));
			FakeDevice device = new FakeDevice(live);
			device.apply(WgBatch.render(plan));
			assertThat(device.silentStrips).isEmpty();
			assertThat(device.peers()).containsExactlyInAnyOrderElementsOf(wanted);
		}

		@Test
		void whenTwoWantedPeersClaimOneAddressTheLiveHolderKeepsIt() {
			List<Peer> live = List.of(peer(B, 25, "10.213.0.2"));
			PeerPlan plan = PeerDiff.between(List.of(peer(A, 25, "10.213.0.2"), peer(B, 25, "10.213.0.2")), live);

			assertThat(plan.conflicts()).containsExactly(new PeerPlan.Conflict("10.213.0.2/32", B, A));
			assertThat(plan.isEmpty()).as("B keeps its address, A gets nothing to reach").isTrue();
		}

		@Test
		void whenNeitherClaimantIsLiveTheFirstKeepsTheAddress() {
			PeerPlan plan = PeerDiff.between(
					List.of(peer(A, 25, "10.213.0.2"), peer(B, 25, "10.213.0.2", "10.213.0.3")), List.of());

			assertThat(plan.conflicts()).containsExactly(new PeerPlan.Conflict("10.213.0.2/32", A, B));
			assertThat(plan.additions()).containsExactly(peer(A, 25, "10.213.0.2"), peer(B, 25, "10.213.0.3"));
		}

	}

	@Test
	void aPublicKeyListedTwiceIsAProgrammingError() {
		assertThatIllegalArgumentException()
			.isThrownBy(() -> PeerDiff.between(List.of(peer(A, 25, "10.213.0.2"), peer(A, 25, "10.213.0.3")), List.of()))
			.withMessageContaining("twice");
	}

	@Test
	void aSecondDiffAfterApplyingThePlanPlansNothing() {
		Random random = new Random(42);
		for (int round = 0; round < 300; round++) {
			List<Peer> live = randomPeers(random, 40);
			List<Peer> wanted = uniqueAddresses(randomPeers(random, 40));
			int budget = random.nextBoolean() ? WgBatch.DEFAULT_ARGUMENT_BUDGET : 400;
			FakeDevice device = new FakeDevice(live);

			PeerPlan plan = PeerDiff.between(wanted, live);
			device.apply(WgBatch.render(plan, budget));

			assertThat(device.silentStrips).as("round %d", round).isEmpty();
			assertThat(PeerDiff.between(wanted, device.peers()).isEmpty()).as("round %d", round).isTrue();
			assertThat(device.peers()).containsExactlyInAnyOrderElementsOf(wanted);
			List<String> untouchable = new ArrayList<>();
			for (Peer peer : wanted) {
				if (live.contains(peer) && plan.releases().stream().noneMatch(r -> r.publicKey().equals(peer.publicKey()))) {
					untouchable.add(peer.publicKey());
				}
			}
			assertThat(device.touched).as("peers that already matched are not touched").noneMatch(untouchable::contains);
		}
	}

	private static List<Peer> randomPeers(Random random, int pool) {
		List<Peer> peers = new ArrayList<>();
		for (int k = 0; k < pool; k++) {
			if (random.nextInt(3) == 0) {
				continue;
			}
			List<String> ips = new ArrayList<>();
			int count = random.nextInt(3);
			for (int i = 0; i < count; i++) {
				ips.add("10.213.0." + (2 + random.nextInt(30)));
			}
			peers.add(Peer.of(key(k), ips, random.nextBoolean() ? 25 : 0));
		}
		// The live interface itself never has one address on two peers.
		return uniqueAddresses(peers);
	}

	private static List<Peer> uniqueAddresses(List<Peer> peers) {
		java.util.Set<String> seen = new java.util.HashSet<>();
		List<Peer> result = new ArrayList<>();
		for (Peer peer : peers) {
			List<String> kept = peer.allowedIps().stream().filter(seen::add).toList();
			result.add(peer.withAllowedIps(kept));
		}
		return result;
	}

}
