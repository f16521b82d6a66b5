package com.gpuflow.agent.audit;

import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

import org.springframework.util.MultiValueMap;

/**
 * The filters of {@code GET /v1/audit/sessions}, validated. {@code from}/{@code to} select the
 * sessions that existed at some moment of [from, to): created before {@code to}, not ended before
 * {@code from}. An empty value counts as absent, so {@code ?renter=&state=} is a plain listing.
 */
record SessionQuery(Optional<String> renter, Optional<String> state, Optional<Instant> from, Optional<Instant> to,
		int limit, Optional<PageCursor> after) {

	static final int DEFAULT_LIMIT = 100;

	static final int MAX_LIMIT = 1000;

	static final Set<String> STATES = Set.of("ACTIVE", "ENDED", "EXPIRED", "REORGED_OUT");

	private static final Pattern ADDRESS = Pattern.compile("0x[0-9a-fA-F]{40}");

	private static final Pattern DIGITS = Pattern.compile("\\d{1,9}");

	static SessionQuery from(MultiValueMap<String, String> params) {
		Params in = new Params(params);
		Optional<String> renter = in.single("renter").map(value -> {
			if (!ADDRESS.matcher(value).matches()) {
				throw ApiProblem.invalidParameter("renter", "must be an address: 0x followed by 40 hex digits");
			}
			return value.toLowerCase(Locale.ROOT);
		});
		Optional<String> state = in.single("state").map(value -> {
			String upper = value.toUpperCase(Locale.ROOT);
			if (upper.equals("PENDING")) {
				throw ApiProblem.invalidParameter("state",
						"PENDING is not a session state: a session exists once its rental is confirmed; use ACTIVE, ENDED, EXPIRED or REORGED_OUT");
			}
			if (!STATES.contains(upper)) {
				throw ApiProblem.invalidParameter("state", "must be one of ACTIVE, ENDED, EXPIRED, REORGED_OUT");
			}
			return upper;
		});
		Optional<Instant> from = in.single("from").map(value -> AuditTime.parse("from", value));
		Optional<Instant> to = in.single("to").map(value -> AuditTime.parse("to", value));
		if (from.isPresent() && to.isPresent() && !from.get().isBefore(to.get())) {
			throw ApiProblem.invalidParameter("from", "must be before to");
		}
		int limit = in.single("limit").map(value -> {
			if (!DIGITS.matcher(value).matches() || Integer.parseInt(value) < 1 || Integer.parseInt(value) > MAX_LIMIT) {
				throw ApiProblem.invalidParameter("limit", "must be a whole number from 1 to " + MAX_LIMIT);
			}
			return Integer.parseInt(value);
		}).orElse(DEFAULT_LIMIT);
		Optional<PageCursor> after = in.single("cursor").map(PageCursor::decode);
		return new SessionQuery(renter, state, from, to, limit, after);
	}

	/** Query parameters where each name appears at most once; a repeated one is ambiguous and refused. */
	record Params(MultiValueMap<String, String> values) {

		Optional<String> single(String name) {
			List<String> given = values.get(name);
			if (given == null || given.isEmpty()) {
				return Optional.empty();
			}
			if (given.size() > 1) {
				throw ApiProblem.invalidParameter(name, "is given more than once");
			}
			String value = given.get(0);
			return value == null || value.isEmpty() ? Optional.empty() : Optional.of(value);
		}

	}

}
