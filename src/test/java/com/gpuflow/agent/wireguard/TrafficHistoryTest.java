package com.gpuflow.agent.wireguard;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The last hour of a peer's traffic in 30-second buckets, bounded, and only for live peers. */
class TrafficHistoryTest {

	static final Instant T0 = Instant.parse("2026-12-03T12:00:00Z");

	static final String A = Keys.key(1);

	static final String B = Keys.key(2);

	final TrafficHistory history = new TrafficHistory();

	void seen(String key, long rx, long tx, Instant at) {
		history.record(List.of(new TrafficHistory.Counters(key, rx, tx)), Set.of(A, B), at);
	}

	@Test
	void theFirstSightIsTheBaselineAndLaterChangesLandInTheirBucket() {
		seen(A, 1_000, 2_000, T0);
		seen(A, 1_500, 2_100, T0.plusSeconds(5));
		seen(A, 1_700, 2_100, T0.plusSeconds(35));
		List<TrafficHistory.Bucket> buckets = history.of(A, T0.plusSeconds(40));
		assertThat(buckets).hasSize(TrafficHistory.BUCKETS);
		assertThat(buckets.get(buckets.size() - 1)).isEqualTo(new TrafficHistory.Bucket(T0.plusSeconds(30), 200, 0));
		assertThat(buckets.get(buckets.size() - 2)).isEqualTo(new TrafficHistory.Bucket(T0, 500, 100));
		assertThat(buckets.stream().mapToLong(TrafficHistory.Bucket::rxBytes).sum()).isEqualTo(700);
	}

	@Test
	void aCounterResetCountsTheNewValueAsTraffic() {
		seen(A, 10_000, 0, T0);
		seen(A, 300, 0, T0.plusSeconds(1));
		assertThat(history.of(A, T0.plusSeconds(2)).get(TrafficHistory.BUCKETS - 1).rxBytes()).isEqualTo(300);
	}

	@Test
	void bucketsOlderThanAnHourAreForgottenAndIdleTimeReadsAsZero() {
		seen(A, 0, 0, T0);
		seen(A, 100, 0, T0.plusSeconds(1));
		seen(A, 150, 0, T0.plus(Duration.ofMinutes(90)));
		List<TrafficHistory.Bucket> buckets = history.of(A, T0.plus(Duration.ofMinutes(90)));
		assertThat(buckets.stream().mapToLong(TrafficHistory.Bucket::rxBytes).sum()).isEqualTo(50);
		assertThat(buckets.get(0).from()).isEqualTo(T0.plus(Duration.ofMinutes(30)).plusSeconds(30));
	}

	@Test
	void aSlotReusedAfterAQuietHourStartsFromZero() {
		seen(A, 0, 0, T0);
		seen(A, 100, 0, T0.plusSeconds(1));
		// Exactly one hour later the same slot of the ring comes round again.
		seen(A, 130, 0, T0.plus(Duration.ofHours(1)));
		List<TrafficHistory.Bucket> buckets = history.of(A, T0.plus(Duration.ofHours(1)));
		assertThat(buckets.get(TrafficHistory.BUCKETS - 1).rxBytes()).isEqualTo(30);
		assertThat(buckets.stream().mapToLong(TrafficHistory.Bucket::rxBytes).sum()).isEqualTo(30);
	}

	@Test
	void aPeerNoLongerLiveIsForgotten() {
		seen(A, 0, 0, T0);
		seen(B, 0, 0, T0);
		history.record(List.of(), Set.of(B), T0.plusSeconds(5));
		assertThat(history.of(A, T0.plusSeconds(5))).isEmpty();
		assertThat(history.of(B, T0.plusSeconds(5))).hasSize(TrafficHistory.BUCKETS);
		assertThat(history.trackedPeers()).isEqualTo(1);
	}

	@Test
	void anUnknownPeerHasNoHistory() {
		assertThat(history.of(A, T0)).isEmpty();
	}

}
