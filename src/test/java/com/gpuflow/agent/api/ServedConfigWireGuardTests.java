package com.gpuflow.agent.api;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import com.gpuflow.agent.keys.WireGuardKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The served configs are accepted unchanged by the real tools: {@code wg-quick strip}, then
 * {@code wg setconf} on a throwaway wireguard-go interface. And no key, signature or nonce of the
 * whole exchange reaches the log.
 */
@ExtendWith(OutputCaptureExtension.class)
class ServedConfigWireGuardTests extends RenterApiTestSupport {

	@TempDir
	Path directory;

	record Result(int exit, String out) {
	}

	@Test
	void aGeneratedKeyConfigIsAcceptedByWgQuickStripAndWgSetconf(CapturedOutput output) throws Exception {
		Fixture fixture = session(KeySource.GENERATED);
		String message = challenge(fixture);
		String signature = CastWallet.sign(CastWallet.PRIVATE_KEY, message);
		String config = post(fixture.path("/config"), java.util.Map.of("message", message, "signature", signature))
			.expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();

		String peers = applyToThrowawayInterface(config);
		List<String> lines = peers.lines().toList();
		assertThat(lines).hasSize(2);
		String[] self = lines.get(0).split("\t");
		String[] server = lines.get(1).split("\t");
		assertThat(self[1]).isEqualTo(fixture.peerPublicKey());
		assertThat(server[0]).isEqualTo(WireGuardKeys.publicKeyOf(Files.readString(serverKeyFile()).trim()));
		assertThat(server[2]).isEqualTo("127.0.0.1:51820");
		assertThat(server[3]).isEqualTo("10.77.0.1/32");
		assertThat(server[7]).isEqualTo("25");

		String rekeyed = post(fixture.path("/rekey"), signedBody(fixture, Purpose.REKEY)).expectStatus().isOk().expectBody(String.class)
			.returnResult().getResponseBody();
		String newPrivateKey = rekeyed.lines().filter(l -> l.startsWith("PrivateKey = ")).findFirst().orElseThrow()
			.substring(13);
		// wg clamps the scalar it shows, so the public key is what identifies the pair
		assertThat(applyToThrowawayInterface(rekeyed).lines().findFirst().orElseThrow().split("\t")[1])
			.isEqualTo(WireGuardKeys.publicKeyOf(newPrivateKey));

		assertThat(output.getAll()).doesNotContain(fixture.privateKey())
			.doesNotContain(newPrivateKey)
			.doesNotContain(signature)
			.doesNotContain(signature.substring(2))
			.doesNotContain(SiweMessage.presentedNonce(message).orElseThrow())
			.doesNotContain(Files.readString(serverKeyFile()).trim())
			.doesNotContain(KEY_ENCRYPTION_KEY);
	}

	@Test
	void aRenterOwnKeyConfigIsAcceptedByWgQuickStripAndWorksOnceTheRenterFillsInTheirKey() throws Exception {
		Fixture fixture = session(KeySource.RENTER);
		String config = post(fixture.path("/config"), signedBody(fixture)).expectStatus().isOk()
			.expectBody(String.class).returnResult().getResponseBody();
		Result stripped = strip(config);
		assertThat(stripped.exit()).as(stripped.out()).isZero();
		assertThat(stripped.out()).contains("PrivateKey = <your private key>").doesNotContain("Address");

		String renterKey = WireGuardKeys.generate().privateKey();
		String peers = applyToThrowawayInterface(config.replace(WgQuickConfig.RENTER_KEY_PLACEHOLDER, renterKey));
		assertThat(peers.lines().toList().get(1)).contains("\t10.77.0.1/32\t");
	}

	private Result strip(String config) throws Exception {
		Path file = directory.resolve("gfs" + suffix() + ".conf");
		Files.writeString(file, config);
		return run("wg-quick", "strip", file.toString());
	}

	/** {@code wg show dump} after {@code wg setconf} of the stripped config on a new interface. */
	private String applyToThrowawayInterface(String config) throws Exception {
		Result stripped = strip(config);
		assertThat(stripped.exit()).as(stripped.out()).isZero();
		Path strippedFile = directory.resolve("stripped-" + suffix() + ".conf");
		Files.writeString(strippedFile, stripped.out());
		// Unique across namespaces: wireguard-go's socket directory is shared (see LESSONS.md).
		String name = "gfapi" + suffix();
		Result created = run("wireguard-go", name);
		assertThat(created.exit()).as("wireguard-go: " + created.out()).isZero();
		try {
			Result set = run("wg", "setconf", name, strippedFile.toString());
			assertThat(set.exit()).as("wg setconf: " + set.out()).isZero();
			Result dump = run("wg", "show", name, "dump");
			assertThat(dump.exit()).isZero();
			return dump.out();
		}
		finally {
			run("ip", "link", "del", name);
		}
	}

	private static String suffix() {
		byte[] random = new byte[3];
		ThreadLocalRandom.current().nextBytes(random);
		return HexFormat.of().formatHex(random);
	}

	private static Result run(String... command) throws IOException, InterruptedException {
		Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
		String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
		if (!process.waitFor(30, TimeUnit.SECONDS)) {
			process.destroyForcibly();
			throw new IllegalStateException(String.join(" ", command) + " hung");
		}
		return new Result(process.exitValue(), out);
	}

}
