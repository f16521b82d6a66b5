package com.gpuflow.agent.wireguard;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Bytes per peer over the last hour, in 30-second buckets, for the dashboard's sparklines. Kept in
 * memory only for live peers and bounded: 120 buckets of two longs (about 2 KB) per peer that has
 * moved traffic, nothing for an idle one (about 20 MB at 10,000 busy peers). Fed from the counter
 * changes the reconciler sees anyway, so an idle pass costs one map scan to forget vanished peers.
 * A counter that goes down (peer re-added, interface re-created) restarted at zero: the new value
 * is the traffic since.
 */
final class TrafficHistory {

	static final Duration BUCKET = Duration.ofSeconds(30);

	static final int BUCKETS = 120;

	private static final long BUCKET_MILLIS = BUCKET.toMillis();

	/** One bucket: the bytes received from and sent to the peer in [from, from + BUCKET). */
	record Bucket(Instant from, long rxBytes, long txBytes) {
	}

	private static final class Track {

		long lastRx;

		long lastTx;

		/** Index (epoch millis / BUCKET) of the newest bucket written, -1 before the first. */
		long newest = -1;

		long[] rx;

		long[] tx;

	}

	private final Map<String, Track> tracks = new HashMap<>();

	/**
	 * The counters of peers that changed since the last call (others moved no traffic), and the keys
	 * of every live peer (the rest are forgotten).
	 */
	synchronized void record(Collection<Counters> changed, Set<String> live, Instant at) {
		if (tracks.size() > live.size() || !live.containsAll(tracks.keySet())) {
			tracks.keySet().retainAll(live);
		}
		long index = at.toEpochMilli() / BUCKET_MILLIS;
		for (Counters counters : changed) {
			Track track = tracks.get(counters.publicKey());
			if (track == null) {
				// The first sight sets the baseline: what the counters held before is of unknown age.
				track = new Track();
				track.lastRx = counters.rxBytes();
				track.lastTx = counters.txBytes();
				tracks.put(counters.publicKey(), track);
				continue;
			}
			long rx = delta(track.lastRx, counters.rxBytes());
			long tx = delta(track.lastTx, counters.txBytes());
			track.lastRx = counters.rxBytes();
			track.lastTx = counters.txBytes();
			if (rx == 0 && tx == 0) {
				continue;
			}
			if (track.rx == null) {
				track.rx = new long[BUCKETS];
				track.tx = new long[BUCKETS];
			}
			advance(track, index);
			int slot = (int) Math.floorMod(index, (long) BUCKETS);
			track.rx[slot] += rx;
			track.tx[slot] += tx;
		}
	}

	/** The last hour of one peer, oldest first, one entry per bucket (zeros where idle); empty if unknown. */
	synchronized List<Bucket> of(String publicKey, Instant now) {
		Track track = tracks.get(publicKey);
		if (track == null) {
			return List.of();
		}
		long newest = now.toEpochMilli() / BUCKET_MILLIS;
		List<Bucket> buckets = new ArrayList<>(BUCKETS);
		for (long index = newest - BUCKETS + 1; index <= newest; index++) {
			long rx = 0;
			long tx = 0;
			if (track.rx != null && index <= track.newest && index > track.newest - BUCKETS) {
				int slot = (int) Math.floorMod(index, (long) BUCKETS);
				rx = track.rx[slot];
				tx = track.tx[slot];
			}
			buckets.add(new Bucket(Instant.ofEpochMilli(index * BUCKET_MILLIS), rx, tx));
		}
		return buckets;
	}

	synchronized int trackedPeers() {
		return tracks.size();
	}

	/** Clears the buckets between the newest written and {@code index}: nothing flowed then. */
	private static void advance(Track track, long index) {
		if (track.newest < 0) {
			track.newest = index;
			return;
		}
		if (index <= track.newest) {
			return;
		}
		long gap = Math.min(index - track.newest, BUCKETS);
		for (long i = 1; i <= gap; i++) {
			int slot = (int) Math.floorMod(track.newest + i, (long) BUCKETS);
			track.rx[slot] = 0;
			track.tx[slot] = 0;
		}
		track.newest = index;
	}

	private static long delta(long last, long now) {
		return now >= last ? now - last : now;
	}

	/** A peer's counters as the device reports them. */
	record Counters(String publicKey, long rxBytes, long txBytes) {
	}

}
