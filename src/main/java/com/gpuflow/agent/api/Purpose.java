package com.gpuflow.agent.api;

import java.util.List;
import java.util.Optional;

/**
 * What a signed challenge authorises. The purpose is written into the signed message as a resource
 * and into the nonce's MAC, and each route accepts only its own, so a signature given for a config
 * cannot be replayed as a rekey or an SSH key change.
 */
enum Purpose {

	CONFIG("config"), REKEY("rekey"), SSH_KEYS("ssh-keys");

	private static final String RESOURCE_PREFIX = "urn:gpuflow:purpose:";

	private final String wire;

	Purpose(String wire) {
		this.wire = wire;
	}

	/** The name in {@code ?purpose=} and in the message's resource. */
	String wire() {
		return wire;
	}

	/** The EIP-4361 resource naming this purpose. */
	String resource() {
		return RESOURCE_PREFIX + wire;
	}

	/** A one-character code for the nonce: the digit of its position. */
	char code() {
		return (char) ('0' + ordinal());
	}

	static Optional<Purpose> ofCode(char code) {
		int index = code - '0';
		Purpose[] all = values();
		return index >= 0 && index < all.length ? Optional.of(all[index]) : Optional.empty();
	}

	/**
	 * The purpose of {@code ?purpose=}: absent means {@link #CONFIG}.
	 * @throws ApiProblem 400 for an unknown or repeated value
	 */
	static Purpose fromQuery(List<String> values) {
		if (values == null || values.isEmpty()) {
			return CONFIG;
		}
		if (values.size() > 1) {
			throw ApiProblem.badRequest("purpose is given twice");
		}
		for (Purpose purpose : values()) {
			if (purpose.wire.equals(values.get(0))) {
				return purpose;
			}
		}
		throw ApiProblem.badRequest("purpose is config, rekey, ssh-keys or absent");
	}

	@Override
	public String toString() {
		return wire;
	}

}
