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
		// One call into the CSPRNG per nonce; a byte is used only below 248 (4 x 62), so each of the 62
		// characters stays equally likely.
		char[] out = new char[LENGTH];
		byte[] random = new byte[2 * LENGTH];
		int filled = 0;
		while (filled < LENGTH) {
			RANDOM.nextBytes(random);
			for (int i = 0; i < random.length && filled < LENGTH; i++) {
				int b = random[i] & 0xff;
				if (b < 248) {
					out[filled++] = ALPHABET.charAt(b % 62);
				}
			}
		}
		return new String(out);
	}

}
