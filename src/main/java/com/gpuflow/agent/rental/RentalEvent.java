package com.gpuflow.agent.rental;

import java.math.BigInteger;
import java.time.Instant;

/** What a RentalMarket log says, decoded and checked. */
public sealed interface RentalEvent {

	BigInteger rentalId();

	/** A rental paid for; {@code renterKey} is 32 raw bytes, all zero when the agent must generate the pair. */
	record Created(BigInteger rentalId, String hostId, String renter, Instant startsAt, Instant endsAt,
			byte[] renterKey) implements RentalEvent {

		public boolean renterGaveKey() {
			for (byte b : renterKey) {
				if (b != 0) {
					return true;
				}
			}
			return false;
		}

	}

	record Extended(BigInteger rentalId, Instant endsAt) implements RentalEvent {
	}

	record Ended(BigInteger rentalId, Instant endedAt) implements RentalEvent {
	}

}
