package com.gpuflow.agent.api;

import java.math.BigInteger;
import java.util.regex.Pattern;

/** A rental id as the contract numbers it: a uint256, written in decimal. */
record RentalId(BigInteger value) {

	private static final BigInteger UINT256_LIMIT = BigInteger.ONE.shiftLeft(256);

	// JSON numbers above 2^53 lose precision in JavaScript clients, so they are written as strings.
	private static final BigInteger JSON_SAFE_LIMIT = BigInteger.ONE.shiftLeft(53);

	// 2^256 has 78 decimal digits; the length bound keeps BigInteger away from megabyte inputs.
	private static final Pattern DECIMAL = Pattern.compile("[0-9]{1,78}");

	RentalId {
		if (value == null || value.signum() < 0 || value.compareTo(UINT256_LIMIT) >= 0) {
			throw new IllegalArgumentException("a rental id is a uint256");
		}
	}

	/**
	 * @throws IllegalArgumentException unless the text is a decimal uint256 (digits only: no sign,
	 * no spaces, no hex)
	 */
	static RentalId parse(String text) {
		if (text == null || !DECIMAL.matcher(text).matches()) {
			throw new IllegalArgumentException("a rental id is a decimal number");
		}
		BigInteger value = new BigInteger(text);
		if (value.compareTo(UINT256_LIMIT) >= 0) {
			throw new IllegalArgumentException("a rental id is a uint256; this one overflows it");
		}
		return new RentalId(value);
	}

	/** A {@code Long} up to 2^53, a {@code String} above, for JSON bodies. */
	Object json() {
		return value.compareTo(JSON_SAFE_LIMIT) <= 0 ? (Object) value.longValueExact() : value.toString();
	}

	@Override
	public String toString() {
		return value.toString();
	}

}
