package com.gpuflow.agent.wireguard;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import com.gpuflow.agent.rental.DesiredPeer;
import com.gpuflow.agent.rental.SessionPort;

/**
 * Reads the wanted peers with a bound on the wait. A database that stops answering (a black-holed
 * connection) would otherwise hold the pass for the driver's socket timeout, and a peer whose
 * endsAt falls in that wait would outlive its rental. The read goes on in the background; while it
 * has not returned no second one is started, and an answer that comes late is used by the next
 * pass (so a slow but working database still converges). Touched by the pass thread only.
 */
final class DesiredReads {

	/** The database did not answer within the wait, or is still busy with an earlier read. */
	static final class NoAnswer extends RuntimeException {

		NoAnswer(String message) {
			super(message);
		}

	}

	private final SessionPort sessions;

	private final Executor executor;

	private CompletableFuture<List<DesiredPeer>> pending;

	DesiredReads(SessionPort sessions, Executor executor) {
		this.sessions = sessions;
		this.executor = executor;
	}

	/**
	 * @return the wanted peers at {@code now}
	 * @throws NoAnswer when no answer came within {@code wait}
	 * @throws RuntimeException what the session side threw (database unreachable)
	 */
	List<DesiredPeer> read(Instant now, Duration wait) {
		if (pending != null) {
			if (!pending.isDone()) {
				throw new NoAnswer("an earlier read of the wanted peers has not returned yet");
			}
			CompletableFuture<List<DesiredPeer>> late = pending;
			pending = null;
			if (!late.isCompletedExceptionally()) {
				// Taken at an earlier instant: drop what has ended since.
				return late.join().stream().filter(peer -> peer.endsAt().isAfter(now)).toList();
			}
		}
		CompletableFuture<List<DesiredPeer>> read = CompletableFuture.supplyAsync(() -> sessions.desiredPeers(now), executor);
		try {
			return read.get(wait.toNanos(), TimeUnit.NANOSECONDS);
		}
		catch (TimeoutException e) {
			pending = read;
			throw new NoAnswer("the database did not answer within " + wait.toMillis() + " ms");
		}
		catch (ExecutionException e) {
			if (e.getCause() instanceof RuntimeException runtime) {
				throw runtime;
			}
			throw new IllegalStateException(e.getCause());
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			read.cancel(true);
			throw new NoAnswer("interrupted while reading the wanted peers");
		}
	}

}
