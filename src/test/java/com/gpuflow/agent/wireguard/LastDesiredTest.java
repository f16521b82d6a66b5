package com.gpuflow.agent.wireguard;

import java.time.Instant;
import java.util.List;

import org.junit.jupiter.api.Test;

import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.rental.DesiredPeer;

import static org.assertj.core.api.Assertions.assertThat;

class LastDesiredTest {

	static final Instant T = Instant.parse("2026-12-03T09:00:00Z");

	final String a = WireGuardKeys.generate().publicKey();

	final String b = WireGuardKeys.generate().publicKey();

	final String shared = WireGuardKeys.generate().publicKey();

	static DesiredPeer peer(long id, String key, String ip, Instant endsAt) {
		return new DesiredPeer(id, key, ip, T.minusSeconds(60), endsAt);
	}

	@Test
	void onlyTheEndedSessionsPeerGoesAndEveryOtherLivePeerStaysAsItIs() {
		Peer liveA = Peer.of(a, List.of("10.77.0.2"), 25);
		Peer liveB = Peer.of(b, List.of("10.77.0.3"), 25);
		Peer byHand = Peer.of(WireGuardKeys.generate().publicKey(), List.of("10.77.0.9"), 0);

		List<Peer> after = LastDesired.withoutEnded(List.of(liveA, liveB, byHand), List.of(peer(1, a, "10.77.0.2", T)));

		assertThat(after).containsExactly(liveB, byHand);
		PeerPlan plan = PeerDiff.between(after, List.of(liveA, liveB, byHand));
		assertThat(plan.removals()).extracting(Peer::publicKey).containsExactly(a);
		assertThat(plan.additions()).isEmpty();
		assertThat(plan.updates()).isEmpty();
	}

	@Test
	void aKeySharedByTwoSessionsLosesOnlyTheEndedSessionsAddress() {
		Peer live = Peer.of(shared, List.of("10.77.0.4", "10.77.0.5"), 25);

		List<Peer> after = LastDesired.withoutEnded(List.of(live), List.of(peer(1, shared, "10.77.0.4", T)));

		assertThat(after).singleElement().satisfies(p -> assertThat(p.allowedIps()).containsExactly("10.77.0.5/32"));
	}

	@Test
	void endedMeansAtOrBeforeNowAndTheNextEndIsTheEarliestStillAhead() {
		LastDesired last = new LastDesired();
		assertThat(last.known()).isFalse();
		last.remember(List.of(peer(1, a, "10.77.0.2", T), peer(2, b, "10.77.0.3", T.plusSeconds(30)),
				peer(3, shared, "10.77.0.4", T.plusSeconds(10))));

		assertThat(last.known()).isTrue();
		assertThat(last.ended(T)).extracting(DesiredPeer::sessionId).containsExactly(1L);
		assertThat(last.ended(T.minusMillis(1))).isEmpty();
		assertThat(last.nextEnd(T)).contains(T.plusSeconds(10));
		assertThat(last.earliestEnd()).contains(T);

		last.forget(last.ended(T));
		assertThat(last.earliestEnd()).contains(T.plusSeconds(10));
	}

}
