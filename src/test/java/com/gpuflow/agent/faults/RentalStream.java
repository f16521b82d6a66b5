package com.gpuflow.agent.faults;

import java.math.BigInteger;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.RentalMarketClient.TxRequest;
import org.web3j.protocol.core.methods.response.TransactionReceipt;

/**
 * A background stream of chain activity for one host: rentals in small bursts (half with a
 * renter's own key, half generated; a quarter short enough to expire during the test), extensions
 * and ends of rentals still running. It keeps going through faults of the agent; a fault of its own
 * (the node going away) is retried, and {@link #failure()} says if it gave up.
 */
final class RentalStream implements AutoCloseable {

	private final RentalMarketClient market;

	private final String host;

	private final int target;

	private final Duration pause;

	private final Random random;

	private final Map<BigInteger, Integer> renterOf = new ConcurrentHashMap<>();

	private final Map<BigInteger, Long> endsAt = new ConcurrentHashMap<>();

	final AtomicInteger rented = new AtomicInteger();

	final AtomicInteger extended = new AtomicInteger();

	final AtomicInteger ended = new AtomicInteger();

	final AtomicInteger reverted = new AtomicInteger();

	final AtomicInteger retries = new AtomicInteger();

	/** Transactions whose nonce was used but whose receipt the restarted node did not have (outcome unknown). */
	final AtomicInteger withoutReceipt = new AtomicInteger();

	private final AtomicReference<Throwable> failure = new AtomicReference<>();

	private final AtomicReference<String> lastRetry = new AtomicReference<>("none");

	private final Thread thread;

	private volatile boolean stopped;

	/**
	 * @param target rentals to create
	 * @param pause between bursts of about ten rentals
	 */
	RentalStream(RentalMarketClient market, String host, int target, Duration pause, long seed) {
		this.market = market;
		this.host = host;
		this.target = target;
		this.pause = pause;
		this.random = new Random(seed);
		this.thread = Thread.ofPlatform().name("rental-stream").daemon().unstarted(this::run);
	}

	RentalStream start() {
		this.thread.start();
		return this;
	}

	/** Waits until the stream has sent everything (or failed). */
	void awaitDone(Duration deadline) throws InterruptedException {
		this.thread.join(deadline.toMillis());
		if (this.thread.isAlive()) {
			throw new AssertionError("the rental stream did not finish within " + deadline + " (" + this.rented + " of "
					+ this.target + " rented)");
		}
		if (this.failure.get() != null) {
			throw new AssertionError("the rental stream failed: " + this.failure.get(), this.failure.get());
		}
	}

	Throwable failure() {
		return this.failure.get();
	}

	/** For a stall: what the stream is doing (alive, failed with, retries and the last retry's cause). */
	String status() {
		return "rented " + this.rented + " of " + this.target + ", thread " + (this.thread.isAlive() ? "alive" : "ended")
				+ ", failure " + this.failure.get() + ", retries " + this.retries + ", without receipt " + this.withoutReceipt
				+ ", last retry " + this.lastRetry.get();
	}

	private void run() {
		try {
			while (!this.stopped && this.rented.get() < this.target) {
				burst();
				AgentProcess.sleep(this.pause.toMillis());
			}
		}
		catch (Throwable e) {
			this.failure.set(e);
		}
	}

	private void burst() {
		int count = Math.min(10, this.target - this.rented.get());
		List<TxRequest> rents = new ArrayList<>();
		List<Integer> accounts = new ArrayList<>();
		for (int i = 0; i < count; i++) {
			int account = 1 + this.random.nextInt(9);
			long duration = (this.random.nextInt(4) == 0) ? 20 + this.random.nextInt(40) : 900 + this.random.nextInt(900);
			String key = this.random.nextBoolean() ? RentalMarketClient.ZERO_KEY : FaultRig.renterKey();
			rents.add(new TxRequest(account, RentalMarketClient.rentFunction(this.host, duration, key),
					BigInteger.valueOf(duration)));
			accounts.add(account);
		}
		List<TransactionReceipt> receipts = sendWithRetry(rents);
		for (int i = 0; i < receipts.size(); i++) {
			if (receipts.get(i) == null) {
				continue; // outcome unknown (see sendWithRetry); the stream rents another one instead
			}
			var created = RentalMarketClient.rentalsCreated(receipts.get(i));
			if (!receipts.get(i).isStatusOK() || created.size() != 1) {
				throw new IllegalStateException("rent reverted: " + receipts.get(i));
			}
			this.renterOf.put(created.get(0).rentalId(), accounts.get(i));
			this.endsAt.put(created.get(0).rentalId(), created.get(0).endsAt());
			this.rented.incrementAndGet();
		}

		// Extend two and end one of the rentals that still have a while to run.
		long soon = Instant.now().getEpochSecond() + 10;
		List<BigInteger> running = this.endsAt.entrySet()
			.stream()
			.filter(e -> e.getValue() > soon)
			.map(Map.Entry::getKey)
			.sorted()
			.toList();
		if (running.size() < 3) {
			return;
		}
		List<TxRequest> changes = new ArrayList<>();
		List<BigInteger> targets = new ArrayList<>();
		for (int i = 0; i < 3; i++) {
			BigInteger id = running.get(this.random.nextInt(running.size()));
			if (targets.contains(id)) {
				continue;
			}
			targets.add(id);
			if (i < 2) {
				long extra = 30 + this.random.nextInt(300);
				changes.add(new TxRequest(this.renterOf.get(id), RentalMarketClient.extendFunction(id, extra),
						BigInteger.valueOf(extra)));
			}
			else {
				// The provider may end any rental of its host.
				changes.add(new TxRequest(0, RentalMarketClient.endRentalFunction(id), BigInteger.ZERO));
			}
		}
		List<TransactionReceipt> done = sendWithRetry(changes);
		for (int i = 0; i < done.size(); i++) {
			if (done.get(i) == null) {
				continue;
			}
			if (!done.get(i).isStatusOK()) {
				this.reverted.incrementAndGet();
				continue;
			}
			BigInteger id = targets.get(i);
			if (!RentalMarketClient.rentalsExtended(done.get(i)).isEmpty()) {
				this.endsAt.put(id, RentalMarketClient.rentalsExtended(done.get(i)).get(0).endsAt());
				this.extended.incrementAndGet();
			}
			else if (!RentalMarketClient.rentalsEnded(done.get(i)).isEmpty()) {
				this.endsAt.remove(id);
				this.ended.incrementAndGet();
			}
		}
	}

	/**
	 * Sends and waits for the receipts; when the node is away (a test stops it) or answers oddly
	 * while it restarts, waits and sends the same signed transactions again. Resending the same
	 * bytes never doubles a transaction, and it brings back one the node took but lost in the
	 * restart (anvil dumps its state on SIGTERM; a transaction that arrived during the dump is gone).
	 */
	private List<TransactionReceipt> sendWithRetry(List<TxRequest> requests) {
		long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
		List<String> signed = null;
		int attempts = 0;
		while (true) {
			try {
				if (signed == null) {
					signed = this.market.signAll(requests);
				}
				attempts++;
				if (attempts >= 3) {
					Optional<List<TransactionReceipt>> settled = settledWithoutReceipts(signed);
					if (settled.isPresent()) {
						return settled.get();
					}
				}
				if (attempts == 1) {
					this.market.broadcastIdempotently(signed);
				}
				else {
					this.market.resendUnmined(signed);
				}
				return this.market.awaitReceipts(signed.stream().map(org.web3j.crypto.Hash::sha3).toList(),
						Duration.ofSeconds(15));
			}
			catch (RuntimeException nodeAwayOrRestarting) {
				if (System.nanoTime() > deadline) {
					throw new IllegalStateException("the node did not take the stream's transactions within 3 minutes: "
							+ nodeAwayOrRestarting, nodeAwayOrRestarting);
				}
				this.retries.incrementAndGet();
				this.lastRetry.set(java.time.LocalTime.now() + " " + nodeAwayOrRestarting);
				AgentProcess.sleep(500);
			}
		}
	}

	/**
	 * Seen once in three long-form runs, and in a short-form run: after anvil restarted from its
	 * state file, a transaction of the stream had no receipt and sending it again was refused, its
	 * sender's nonce already used. Its effect may be on the chain without the receipt, or not at all;
	 * the stream cannot tell, so it leaves it out of its own figures (the checks read the chain's
	 * truth, not the stream's counts). Present only when every transaction has a receipt or such a
	 * used nonce; the missing receipts are null.
	 */
	private Optional<List<TransactionReceipt>> settledWithoutReceipts(List<String> signed) {
		List<TransactionReceipt> receipts = new ArrayList<>();
		int unknown = 0;
		for (String tx : signed) {
			Optional<TransactionReceipt> receipt = this.market.receipt(org.web3j.crypto.Hash.sha3(tx));
			if (receipt.isPresent()) {
				receipts.add(receipt.get());
			}
			else if (this.market.nonceUsed(tx)) {
				receipts.add(null);
				unknown++;
			}
			else {
				return Optional.empty();
			}
		}
		if (unknown == 0) {
			return Optional.of(receipts);
		}
		this.withoutReceipt.addAndGet(unknown);
		return Optional.of(receipts);
	}

	@Override
	public void close() throws InterruptedException {
		this.stopped = true;
		this.thread.join(Duration.ofMinutes(1).toMillis());
	}

}
