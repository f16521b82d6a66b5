package com.gpuflow.agent.api;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Foundry's {@code cast}, a real wallet client, signing as a renter would with personal_sign. */
final class CastWallet {

	/** anvil's default account 1. */
	static final String PRIVATE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

	static final String ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

	private static final Path CAST = Path.of("contracts/node_modules/@foundry-rs/cast-linux-amd64/bin/cast");

	private CastWallet() {
	}

	static String sign(String privateKey, String message) {
		if (!Files.isExecutable(CAST)) {
			throw new IllegalStateException(CAST.toAbsolutePath() + " is missing: run npm --prefix contracts ci");
		}
		try {
			Process process = new ProcessBuilder(CAST.toString(), "wallet", "sign", "--private-key", privateKey, message)
				.redirectErrorStream(true)
				.start();
			String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
			if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0) {
				throw new IllegalStateException("cast wallet sign failed: " + out);
			}
			return out;
		}
		catch (IOException e) {
			throw new IllegalStateException(e);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(e);
		}
	}

}
