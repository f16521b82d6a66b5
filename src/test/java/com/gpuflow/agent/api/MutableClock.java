package com.gpuflow.agent.api;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;

/** A clock tests move by hand, so expiry is tested without sleeping. */
final class MutableClock extends Clock {

	private volatile Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);

	@Override
	public Instant instant() {
		return now;
	}

	void advance(Duration duration) {
		now = now.plus(duration);
	}

	void reset() {
		now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
	}

	@Override
	public ZoneId getZone() {
		return ZoneOffset.UTC;
	}

	@Override
	public Clock withZone(ZoneId zone) {
		return this;
	}

}
