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
 * has not returned no second one is started, and an answer that comes late asks for a pass at once,
 * which uses it (so a slow but working database converges as fast as it answers). Touched by the
 * pass thread only.
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

	private final Runnable onLateAnswer;

	private CompletableFuture<List<DesiredPeer>> pending;

	private boolean stale;

	/**
	 * @param onLateAnswer called when a read that was given up on returns after all
	 */
	DesiredReads(SessionPort sessions, Executor executor, Runnable onLateAnswer) {
		this.sessions = sessions;
		this.executor = executor;
		this.onLateAnswer = onLateAnswer;
	}

	/** Whether the last answer was one that came late: the caller should read again soon. */
	boolean wasStale() {
		return stale;
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
				// Taken at an earlier instant: drop what has ended since. Changes made after it was
				// taken are missing from it; see wasStale().
				stale = true;
				return late.join().stream().filter(peer -> peer.endsAt().isAfter(now)).toList();
			}
		}
		stale = false;
		CompletableFuture<List<DesiredPeer>> read = CompletableFuture.supplyAsync(() -> {
			sessions.settleDue(now);
			return sessions.desiredPeers(now);
		}, executor);
		try {
			return read.get(wait.toNanos(), TimeUnit.NANOSECONDS);
		}
		catch (TimeoutException e) {
			pending = read;
			read.whenComplete((answer, failure) -> onLateAnswer.run());
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
