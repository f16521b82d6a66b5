package com.gpuflow.agent.audit;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Optional;

import org.springframework.http.HttpStatus;

/**
 * The bearer token of auditors and operators ({@code AUDIT_TOKEN}). Both sides are hashed before the
 * constant-time comparison, so neither the content nor the length of the token leaks through
 * timing. The token itself is never logged nor echoed.
 */
public final class AuditToken {

	private final Optional<byte[]> expected;

	public AuditToken(Optional<String> token) {
		this.expected = token.map(AuditToken::digest);
	}

	/** Whether the header carries the configured token (for routes outside this package). */
	public boolean accepts(String authorization) {
		try {
			check(authorization);
			return true;
		}
		catch (ApiProblem e) {
			return false;
		}
	}

	/** @throws ApiProblem 401 unless the header carries the configured token */
	void check(String authorization) {
		if (expected.isEmpty()) {
			throw unauthorized("AUDIT_TOKEN is not configured on this agent, so the audit routes are closed");
		}
		if (authorization == null || authorization.isBlank()) {
			throw unauthorized("an Authorization: Bearer <AUDIT_TOKEN> header is required");
		}
		String value = authorization.strip();
		// RFC 6750: the scheme name is case-insensitive
		if (value.length() < 7 || !value.regionMatches(true, 0, "Bearer ", 0, 7)) {
			throw unauthorized("the Authorization header must use the Bearer scheme");
		}
		byte[] presented = digest(value.substring(7).strip());
		if (!MessageDigest.isEqual(expected.get(), presented)) {
			throw unauthorized("the bearer token is not valid");
		}
	}

	private static ApiProblem unauthorized(String message) {
		return new ApiProblem(HttpStatus.UNAUTHORIZED, "unauthorized", message);
	}

	private static byte[] digest(String token) {
		try {
			return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
		}
		catch (NoSuchAlgorithmException e) {
			throw new IllegalStateException("every Java runtime has SHA-256", e);
		}
	}

}
