package com.gpuflow.agent.keys;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashSet;
import java.util.Set;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WireGuardKeysTest {

	@Test
	void generatedPairsMatchWhatWgPubkeyComputes() throws Exception {
		for (int i = 0; i < 5; i++) {
			WireGuardKeys.KeyPairText pair = WireGuardKeys.generate();
			assertThat(wgPubkey(pair.privateKey())).isEqualTo(pair.publicKey());
			assertThat(WireGuardKeys.publicKeyOf(pair.privateKey())).isEqualTo(pair.publicKey());
		}
	}

	@Test
	void publicKeyOfAgreesWithWgForKeysFromWgGenkey() throws Exception {
		String privateKey = run(new ProcessBuilder("wg", "genkey"), null).trim();
		assertThat(WireGuardKeys.publicKeyOf(privateKey)).isEqualTo(wgPubkey(privateKey));
	}

	@Test
	void everyPairIsFresh() {
		Set<String> seen = new HashSet<>();
		for (int i = 0; i < 200; i++) {
			assertThat(seen.add(WireGuardKeys.generate().privateKey())).isTrue();
		}
	}

	@Test
	void renterKeysOfTheWrongLengthZeroOrSmallOrderAreRefused() {
		assertThatThrownBy(() -> WireGuardKeys.validatePublicKey(new byte[31])).hasMessageContaining("32 bytes");
		assertThatThrownBy(() -> WireGuardKeys.validatePublicKey(new byte[32])).hasMessageContaining("small order");
		byte[] one = new byte[32];
		one[0] = 1;
		assertThatThrownBy(() -> WireGuardKeys.validatePublicKey(one)).hasMessageContaining("small order");
		byte[] highBitSet = one.clone();
		highBitSet[31] = (byte) 0x80;
		assertThatThrownBy(() -> WireGuardKeys.validatePublicKey(highBitSet)).hasMessageContaining("small order");
		byte[] good = Base64.getDecoder().decode(WireGuardKeys.generate().publicKey());
		assertThat(WireGuardKeys.validatePublicKey(good)).isEqualTo(Base64.getEncoder().encodeToString(good));
		assertThat(Arrays.equals(good, new byte[32])).isFalse();
	}

	@Test
	void aPairNeverPrintsItsPrivateKey() {
		WireGuardKeys.KeyPairText pair = WireGuardKeys.generate();
		assertThat(pair.toString()).doesNotContain(pair.privateKey()).contains(pair.publicKey());
	}

	static String wgPubkey(String privateKey) throws IOException, InterruptedException {
		return run(new ProcessBuilder("wg", "pubkey"), privateKey).trim();
	}

	static String run(ProcessBuilder builder, String input) throws IOException, InterruptedException {
		Process process = builder.start();
		if (input != null) {
			process.getOutputStream().write((input + "\n").getBytes(StandardCharsets.US_ASCII));
		}
		process.getOutputStream().close();
		String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
		assertThat(process.waitFor()).isZero();
		return output;
	}

}
