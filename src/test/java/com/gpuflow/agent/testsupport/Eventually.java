package com.gpuflow.agent.testsupport;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Polls a condition until it holds or a deadline passes; the failure says what was last seen. */
public final class Eventually {

	private Eventually() {
	}

	public static void await(Duration deadline, String what, BooleanSupplier condition) {
		long end = System.nanoTime() + deadline.toNanos();
		while (!condition.getAsBoolean()) {
			if (System.nanoTime() > end) {
				throw new AssertionError("not within " + deadline + ": " + what);
			}
			sleep(50);
		}
	}

	public static <T> T await(Duration deadline, String what, Supplier<T> value, java.util.function.Predicate<T> accept) {
		long end = System.nanoTime() + deadline.toNanos();
		T last = value.get();
		while (!accept.test(last)) {
			if (System.nanoTime() > end) {
				throw new AssertionError("not within " + deadline + ": " + what + " (last seen: " + last + ")");
			}
			sleep(50);
			last = value.get();
		}
		return last;
	}

	/** Asserts that a condition stays false for the whole period (for "not acted on early"). */
	public static void never(Duration period, String what, BooleanSupplier condition) {
		long end = System.nanoTime() + period.toNanos();
		while (System.nanoTime() < end) {
			if (condition.getAsBoolean()) {
				throw new AssertionError("happened, but must not: " + what);
			}
			sleep(50);
		}
	}

	private static void sleep(long millis) {
		try {
			Thread.sleep(millis);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new AssertionError("interrupted");
		}
	}

}
