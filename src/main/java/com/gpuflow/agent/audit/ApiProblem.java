package com.gpuflow.agent.audit;

import org.springframework.http.HttpStatus;

/**
 * A refusal with the SPEC's error body {@code {"error": code, "message": ...}}. Thrown for bad input
 * and missing credentials; the routes turn it into a response, never into a 5xx.
 */
final class ApiProblem extends RuntimeException {

	private final HttpStatus status;

	private final String code;

	ApiProblem(HttpStatus status, String code, String message) {
		super(message, null, false, false);
		this.status = status;
		this.code = code;
	}

	static ApiProblem badRequest(String message) {
		return new ApiProblem(HttpStatus.BAD_REQUEST, "bad_request", message);
	}

	static ApiProblem invalidParameter(String name, String message) {
		return new ApiProblem(HttpStatus.BAD_REQUEST, "invalid_parameter", name + " " + message);
	}

	HttpStatus status() {
		return status;
	}

	String code() {
		return code;
	}

	ErrorBody body() {
		return new ErrorBody(code, getMessage());
	}

	record ErrorBody(String error, String message) {
	}

}
