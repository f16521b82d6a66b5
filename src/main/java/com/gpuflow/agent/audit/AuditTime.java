package com.gpuflow.agent.audit;

import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;

/** Times as the audit surface reads and writes them: ISO-8601 UTC, microsecond precision. */
final class AuditTime {

	// PostgreSQL's timestamptz reaches further, but nobody audits outside these years, and bounding
	// them keeps every accepted value storable and comparable.
	private static final Instant EARLIEST = Instant.parse("1970-01-01T00:00:00Z");

	private static final Instant LATEST = Instant.parse("9999-12-31T23:59:59.999999Z");

	private AuditTime() {
	}

	static boolean storable(Instant instant) {
		return !instant.isBefore(EARLIEST) && !instant.isAfter(LATEST);
	}

	static String format(Instant instant) {
		return instant == null ? null : DateTimeFormatter.ISO_INSTANT.format(instant);
	}

	static long epochMicros(Instant instant) {
		return Math.addExact(Math.multiplyExact(instant.getEpochSecond(), 1_000_000L), instant.getNano() / 1_000);
	}

	static Instant fromEpochMicros(long micros) {
		return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1_000L);
	}

	static OffsetDateTime utc(Instant instant) {
		return instant == null ? null : instant.atOffset(ZoneOffset.UTC);
	}

	/**
	 * An ISO-8601 instant with an offset ({@code 2026-11-25T18:00:00Z}, {@code ...+02:00}) or a date
	 * ({@code 2026-11-25}, midnight UTC).
	 */
	static Instant parse(String name, String value) {
		Instant instant;
		try {
			if (value.length() == 10) {
				instant = LocalDate.parse(value, DateTimeFormatter.ISO_LOCAL_DATE).atStartOfDay().toInstant(ZoneOffset.UTC);
			}
			else {
				instant = OffsetDateTime.parse(value, DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
			}
		}
		catch (DateTimeParseException e) {
			throw ApiProblem.invalidParameter(name,
					"must be an ISO-8601 time with an offset, such as 2026-11-25T18:00:00Z, or a date such as 2026-11-25");
		}
		if (!storable(instant)) {
			throw ApiProblem.invalidParameter(name, "must lie between 1970 and 9999");
		}
		// The database keeps microseconds; a finer bound would compare differently there than here.
		return instant.truncatedTo(java.time.temporal.ChronoUnit.MICROS);
	}

}
