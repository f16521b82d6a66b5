package com.gpuflow.agent.ipam;

import java.util.OptionalLong;
import java.util.function.LongPredicate;

import com.gpuflow.agent.config.TunnelNetwork;

/**
 * Which tunnel address to hand out next: next-fit after the last one handed out, wrapping around,
 * skipping addresses that are held or still resting. Next-fit keeps a just-released address (and its
 * stale routes in renters' heads) out of use for as long as possible.
 */
public final class AddressAllocator {

	private AddressAllocator() {
	}

	public static OptionalLong next(TunnelNetwork network, OptionalLong lastHandedOut, LongPredicate unavailable) {
		long first = network.firstRenterAddress();
		long last = network.lastRenterAddress();
		long capacity = last - first + 1;
		long start = lastHandedOut.isPresent() && lastHandedOut.getAsLong() >= first && lastHandedOut.getAsLong() < last
				? lastHandedOut.getAsLong() + 1 : first;
		for (long i = 0; i < capacity; i++) {
			long candidate = first + ((start - first + i) % capacity);
			if (!unavailable.test(candidate)) {
				return OptionalLong.of(candidate);
			}
		}
		return OptionalLong.empty();
	}

}
