package com.gpuflow.agent.api;

import java.security.SecureRandom;

/** Sign-in nonces: 24 base-62 characters from a CSPRNG, about 142 bits (EIP-4361 asks for 8+ alphanumerics). */
final class Nonces {

	private static final String ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

	private static final int LENGTH = 24;

	private static final SecureRandom RANDOM = new SecureRandom();

	private Nonces() {
	}

	static String next() {
		char[] out = new char[LENGTH];
		for (int i = 0; i < LENGTH; i++) {
			out[i] = ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length()));
		}
		return new String(out);
	}

}
