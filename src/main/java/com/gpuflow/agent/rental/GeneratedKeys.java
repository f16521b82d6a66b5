package com.gpuflow.agent.rental;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.FutureTask;

import com.gpuflow.agent.keys.RenterKeyVault;

/**
 * Key pairs for the rentals of a range that need the agent to generate one, made in chunks. With
 * {@code async} the chunks are handed to the common pool at once, so the keys are made on another
 * core while the caller stores the range's events (a backfill of 20,000 rentals spends about 0.7 s
 * of CPU on keys); when the caller needs them it runs every chunk no pool thread has started yet
 * itself ({@link FutureTask#run()} does nothing for a task already started) and waits for the rest.
 */
final class GeneratedKeys {

	private static final int CHUNK = 128;

	private static final int ASYNC_FROM = 256;

	private final RenterKeyVault.SealedPair[] pairs;

	private final List<FutureTask<Void>> chunks = new ArrayList<>();

	private GeneratedKeys(int size) {
		this.pairs = new RenterKeyVault.SealedPair[size];
	}

	/**
	 * @param events the range's RentalCreated events
	 * @param ids the session id drawn for each event, same order
	 */
	static GeneratedKeys start(RenterKeyVault vault, List<RentalEvent.Created> events, Long[] ids, Instant now,
			boolean async) {
		GeneratedKeys keys = new GeneratedKeys(events.size());
		if (!vault.canGenerate()) {
			return keys;
		}
		for (int start = 0; start < events.size(); start += CHUNK) {
			int from = start;
			int to = Math.min(events.size(), start + CHUNK);
			keys.chunks.add(new FutureTask<>(() -> {
				for (int i = from; i < to; i++) {
					RentalEvent.Created event = events.get(i);
					if (!event.renterGaveKey() && event.endsAt().isAfter(now)) {
						keys.pairs[i] = vault.generate(ids[i]);
					}
				}
				return null;
			}));
		}
		if (async && events.size() >= ASYNC_FROM) {
			keys.chunks.forEach(ForkJoinPool.commonPool()::execute);
		}
		return keys;
	}

	/** The pair of each event (null where none is needed or none can be made); waits until all are made. */
	RenterKeyVault.SealedPair[] join() {
		for (FutureTask<Void> chunk : chunks) {
			chunk.run();
		}
		for (FutureTask<Void> chunk : chunks) {
			try {
				chunk.get();
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
				throw new IllegalStateException("interrupted while generating renter keys", e);
			}
			catch (ExecutionException e) {
				throw e.getCause() instanceof RuntimeException runtime ? runtime
						: new IllegalStateException("generating renter keys failed", e.getCause());
			}
		}
		// FutureTask.get() happens-after the task's writes: the pairs are visible here.
		return pairs;
	}

}
