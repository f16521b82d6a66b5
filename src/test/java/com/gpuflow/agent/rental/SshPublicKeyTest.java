package com.gpuflow.agent.rental;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Keys made by OpenSSH's own ssh-keygen, and keys broken on purpose. */
class SshPublicKeyTest {

	static final Path DIRECTORY;

	static final ConcurrentHashMap<String, String> MADE = new ConcurrentHashMap<>();

	static {
		try {
			DIRECTORY = Files.createTempDirectory("gpuflow-sshkey-test");
		}
		catch (IOException e) {
			throw new IllegalStateException(e);
		}
	}

	@AfterAll
	static void removeKeys() throws IOException {
		try (var files = Files.list(DIRECTORY)) {
			for (Path file : files.toList()) {
				Files.delete(file);
			}
		}
		Files.delete(DIRECTORY);
	}

	/** The public key line ssh-keygen writes for {@code -t type [-b bits]}, with its comment. */
	static String keygen(String type, int bits) {
		return MADE.computeIfAbsent(type + bits, k -> {
			try {
				Path key = DIRECTORY.resolve(type + "-" + bits);
				List<String> command = new java.util.ArrayList<>(List.of("ssh-keygen", "-q", "-t", type, "-N", "", "-C",
						"renter@laptop", "-f", key.toString()));
				if (bits > 0) {
					command.addAll(List.of("-b", String.valueOf(bits)));
				}
				Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
				String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
				assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
				assertThat(process.exitValue()).as(output).isZero();
				return Files.readString(Path.of(key + ".pub")).strip();
			}
			catch (IOException e) {
				throw new IllegalStateException(e);
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
				throw new IllegalStateException(e);
			}
		});
	}

	static String fingerprintByKeygen(String line) throws Exception {
		Path file = Files.createTempFile(DIRECTORY, "fp", ".pub");
		Files.writeString(file, line + "\n");
		Process process = new ProcessBuilder("ssh-keygen", "-l", "-E", "sha256", "-f", file.toString()).start();
		String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
		process.waitFor(10, TimeUnit.SECONDS);
		return output.split(" ")[1];
	}

	@Nested
	class KeysFromSshKeygen {

		@ParameterizedTest
		@ValueSource(strings = { "ed25519:0", "ecdsa:256", "ecdsa:384", "ecdsa:521", "rsa:3072" })
		void areAcceptedReEncodedWithoutTheirCommentAndFingerprintedAsSshKeygenDoes(String spec) throws Exception {
			String[] parts = spec.split(":");
			String line = keygen(parts[0], Integer.parseInt(parts[1]));
			SshPublicKey key = SshPublicKey.parse(line);
			String[] fields = line.split(" ");
			assertThat(key.type()).isEqualTo(fields[0]);
			assertThat(key.text()).isEqualTo(fields[0] + " " + fields[1]).doesNotContain("renter@laptop");
			assertThat(key.fingerprint()).isEqualTo(fingerprintByKeygen(line));
		}

		@Test
		void anRsaKeyUnder3072BitsIsRefusedNamingItsSize() {
			assertThatThrownBy(() -> SshPublicKey.parse(keygen("rsa", 2048)))
				.hasMessageContaining("2048 bits").hasMessageContaining("at least 3072");
		}

		@Test
		void aKeyWithoutCommentAndWithSurroundingBlanksIsAccepted() {
			String[] fields = keygen("ed25519", 0).split(" ");
			assertThat(SshPublicKey.parse("  " + fields[0] + "\t" + fields[1] + "  \n").text())
				.isEqualTo(fields[0] + " " + fields[1]);
		}

	}

	@Nested
	class SecurityKeys {

		@Test
		void skEd25519AndSkEcdsaBlobsWithAnApplicationAreAccepted() throws IOException {
			byte[] ed = Base64.getDecoder().decode(keygen("ed25519", 0).split(" ")[1]);
			byte[] edPoint = field(ed, 1);
			String skEd = "sk-ssh-ed25519@openssh.com";
			assertThat(SshPublicKey.parse(skEd + " " + b64(wire(skEd.getBytes(), edPoint, "ssh:".getBytes()))).type())
				.isEqualTo(skEd);

			byte[] ec = Base64.getDecoder().decode(keygen("ecdsa", 256).split(" ")[1]);
			String skEc = "sk-ecdsa-sha2-nistp256@openssh.com";
			assertThat(SshPublicKey
				.parse(skEc + " " + b64(wire(skEc.getBytes(), "nistp256".getBytes(), field(ec, 2), "ssh:".getBytes())))
				.type()).isEqualTo(skEc);
		}

		@Test
		void anSkKeyWithoutItsApplicationIsRefused() throws IOException {
			byte[] ed = Base64.getDecoder().decode(keygen("ed25519", 0).split(" ")[1]);
			String skEd = "sk-ssh-ed25519@openssh.com";
			assertThatThrownBy(() -> SshPublicKey.parse(skEd + " " + b64(wire(skEd.getBytes(), field(ed, 1)))))
				.hasMessageContaining("ends before");
		}

	}

	@Nested
	class Garbage {

		@Test
		void optionsBeforeTheKeyAreRefused() {
			String line = keygen("ed25519", 0);
			assertThatThrownBy(() -> SshPublicKey.parse("from=\"0.0.0.0/0\" " + line)).hasMessageContaining("options");
			assertThatThrownBy(() -> SshPublicKey.parse("command=\"/bin/sh\",no-pty " + line)).hasMessageContaining("options");
			assertThatThrownBy(() -> SshPublicKey.parse("restrict " + line)).hasMessageContaining("options");
		}

		@Test
		void aTypeThatDiffersFromTheBlobsOwnIsRefused() {
			String blob = keygen("ed25519", 0).split(" ")[1];
			assertThatThrownBy(() -> SshPublicKey.parse("ecdsa-sha2-nistp256 " + blob))
				.hasMessageContaining("says 'ecdsa-sha2-nistp256' but its key data is of type 'ssh-ed25519'");
		}

		@Test
		void unknownTypesAndDsaAreRefused() {
			assertThatThrownBy(() -> SshPublicKey.parse("ssh-dss AAAAB3NzaC1kc3MAAACBAP")).hasMessageContaining("accepted:");
			assertThatThrownBy(() -> SshPublicKey.parse("hello world")).hasMessageContaining("type 'hello'");
		}

		@ParameterizedTest
		@ValueSource(strings = { "", "   ", "ssh-ed25519", "ssh-ed25519 !!!!", "ssh-ed25519 AAAA", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
				"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })
		void emptyCutOrUndecodableKeyDataIsRefused(String line) {
			assertThatThrownBy(() -> SshPublicKey.parse(line)).isInstanceOf(IllegalArgumentException.class);
		}

		@Test
		void bytesAfterTheKeyAreRefused() throws IOException {
			byte[] blob = Base64.getDecoder().decode(keygen("ed25519", 0).split(" ")[1]);
			byte[] longer = java.util.Arrays.copyOf(blob, blob.length + 4);
			assertThatThrownBy(() -> SshPublicKey.parse("ssh-ed25519 " + b64(longer))).hasMessageContaining("4 bytes after");
		}

		@Test
		void anEcdsaPointOffTheCurveIsRefused() throws IOException {
			byte[] ec = Base64.getDecoder().decode(keygen("ecdsa", 256).split(" ")[1]);
			byte[] point = field(ec, 2);
			point[64] ^= 1;
			String type = "ecdsa-sha2-nistp256";
			assertThatThrownBy(() -> SshPublicKey.parse(type + " " + b64(wire(type.getBytes(), "nistp256".getBytes(), point))))
				.hasMessageContaining("not on curve");
		}

		@Test
		void aLengthPastTheEndIsRefusedNotOverread() throws IOException {
			ByteArrayOutputStream out = new ByteArrayOutputStream();
			DataOutputStream data = new DataOutputStream(out);
			data.writeInt(11);
			data.write("ssh-ed25519".getBytes());
			data.writeInt(Integer.MAX_VALUE);
			data.write(new byte[32]);
			assertThatThrownBy(() -> SshPublicKey.parse("ssh-ed25519 " + b64(out.toByteArray()))).hasMessageContaining("cut short");
		}

		@Test
		void aCommentWithANewlineCannotSmuggleASecondLine() {
			String line = keygen("ed25519", 0);
			assertThatThrownBy(() -> SshPublicKey.parse(line + " x\nssh-ed25519 AAAA")).hasMessageContaining("control characters");
		}

	}

	/** The {@code index}-th string field (0-based) of a wire-format blob. */
	static byte[] field(byte[] blob, int index) {
		java.nio.ByteBuffer buffer = java.nio.ByteBuffer.wrap(blob);
		for (int i = 0;; i++) {
			byte[] value = new byte[buffer.getInt()];
			buffer.get(value);
			if (i == index) {
				return value;
			}
		}
	}

	static byte[] wire(byte[]... fields) throws IOException {
		ByteArrayOutputStream out = new ByteArrayOutputStream();
		DataOutputStream data = new DataOutputStream(out);
		for (byte[] field : fields) {
			data.writeInt(field.length);
			data.write(field);
		}
		return out.toByteArray();
	}

	static String b64(byte[] bytes) {
		return Base64.getEncoder().encodeToString(bytes);
	}

}
