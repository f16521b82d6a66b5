package com.gpuflow.agent.api;

import java.time.Instant;
import java.time.temporal.ChronoUnit;

/** Times in JSON as the SPEC writes them: ISO-8601 UTC in whole seconds, {@code 2026-11-25T18:00:00Z}. */
final class Times {

	private Times() {
	}

	static String iso(Instant instant) {
		return instant == null ? null : instant.truncatedTo(ChronoUnit.SECONDS).toString();
	}

}
