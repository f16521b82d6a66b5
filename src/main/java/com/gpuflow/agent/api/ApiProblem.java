package com.gpuflow.agent.api;

import org.springframework.http.HttpStatus;

/**
 * A refusal with the SPEC's status and {@code error} code; its message is written to the caller, so
 * it never carries a key, a signature or a token.
 */
final class ApiProblem extends RuntimeException {

	private final HttpStatus status;

	private final String code;

	ApiProblem(HttpStatus status, String code, String message) {
		super(message, null, false, false);
		this.status = status;
		this.code = code;
	}

	HttpStatus status() {
		return status;
	}

	String code() {
		return code;
	}

	static ApiProblem tooLarge() {
		return new ApiProblem(HttpStatus.PAYLOAD_TOO_LARGE, "body_too_large", "the body is over 16 KiB");
	}

	static ApiProblem badRequest(String message) {
		return new ApiProblem(HttpStatus.BAD_REQUEST, "bad_request", message);
	}

	static ApiProblem unsupportedMediaType() {
		return new ApiProblem(HttpStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
				"send the body as application/json");
	}

	static ApiProblem notFound(RentalId id) {
		return new ApiProblem(HttpStatus.NOT_FOUND, "not_found", "rental " + id + " is unknown to this host");
	}

	static ApiProblem ended(RentalId id) {
		return new ApiProblem(HttpStatus.GONE, "ended", "rental " + id + " has ended");
	}

	static ApiProblem expired(RentalId id) {
		return new ApiProblem(HttpStatus.GONE, "expired", "rental " + id + " has expired");
	}

	static ApiProblem alreadyDelivered(RentalId id) {
		return new ApiProblem(HttpStatus.GONE, "already_delivered", "the config of rental " + id
				+ " was already served and its private key destroyed; rekey to get a new one");
	}

	static ApiProblem notActive(String message) {
		return new ApiProblem(HttpStatus.CONFLICT, "not_active", message);
	}

	static ApiProblem keyRejected(String message) {
		return new ApiProblem(HttpStatus.CONFLICT, "key_rejected", message);
	}

	static ApiProblem invalidChallenge() {
		return new ApiProblem(HttpStatus.UNAUTHORIZED, "invalid_challenge",
				"the message is not a challenge issued for this rental, or its nonce is unknown, used or expired;"
						+ " ask for a new challenge");
	}

	static ApiProblem invalidSignature(String why) {
		return new ApiProblem(HttpStatus.UNAUTHORIZED, "invalid_signature", why);
	}

	static ApiProblem notRenter() {
		return new ApiProblem(HttpStatus.FORBIDDEN, "not_renter",
				"the signature is not from the rental's renter; sign with the wallet that rented");
	}

	static ApiProblem unavailable(String code, String message) {
		return new ApiProblem(HttpStatus.SERVICE_UNAVAILABLE, code, message);
	}

}
