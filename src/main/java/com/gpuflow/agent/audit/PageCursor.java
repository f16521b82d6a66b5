package com.gpuflow.agent.audit;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where a page of sessions ended: the (created_at, id) of its last row. Opaque to clients (base64url
 * of a versioned text), so the ordering can change without breaking the contract; anything that
 * does not decode to exactly this shape is refused as a bad parameter.
 */
record PageCursor(Instant createdAt, long sessionId) {

	private static final Pattern TEXT = Pattern.compile("v1:(-?\\d{1,19}):(\\d{1,19})");

	private static final int MAX_LENGTH = 80;

	String encode() {
		String text = "v1:" + AuditTime.epochMicros(createdAt) + ":" + sessionId;
		return Base64.getUrlEncoder().withoutPadding().encodeToString(text.getBytes(StandardCharsets.US_ASCII));
	}

	static PageCursor decode(String cursor) {
		if (cursor.length() > MAX_LENGTH) {
			throw ApiProblem.invalidParameter("cursor", "is not a cursor this agent issued");
		}
		try {
			String text = new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.US_ASCII);
			Matcher m = TEXT.matcher(text);
			if (m.matches()) {
				Instant createdAt = AuditTime.fromEpochMicros(Long.parseLong(m.group(1)));
				if (AuditTime.storable(createdAt)) {
					return new PageCursor(createdAt, Long.parseLong(m.group(2)));
				}
			}
		}
		catch (IllegalArgumentException | ArithmeticException | java.time.DateTimeException e) {
			// falls through to the refusal: NumberFormatException is an IllegalArgumentException
		}
		throw ApiProblem.invalidParameter("cursor", "is not a cursor this agent issued");
	}

}
