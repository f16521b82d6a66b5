package com.gpuflow.agent.keys;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import com.gpuflow.agent.config.InvalidSettingException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

class FileServerIdentityTests {

	@TempDir
	Path directory;

	@Test
	void aMissingKeyFileIsCreatedAsOneBase64LineWithMode0600() throws Exception {
		Path file = directory.resolve("nested/server.key");
		ServerIdentity identity = FileServerIdentity.loadOrCreate(file);
		String content = Files.readString(file);
		assertThat(content).matches("[A-Za-z0-9+/]{43}=\n");
		assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
		assertThat(identity.publicKey()).isEqualTo(WireGuardKeys.publicKeyOf(content.trim()));
		try (var leftovers = Files.list(file.getParent())) {
			assertThat(leftovers).containsExactly(file);
		}
	}

	@Test
	void anExistingKeyIsReadAndNeverReplaced() throws Exception {
		Path file = directory.resolve("server.key");
		WireGuardKeys.KeyPairText pair = WireGuardKeys.generate();
		Files.writeString(file, pair.privateKey() + "\n");
		assertThat(FileServerIdentity.loadOrCreate(file).publicKey()).isEqualTo(pair.publicKey());
		assertThat(FileServerIdentity.loadOrCreate(file).publicKey()).isEqualTo(pair.publicKey());
		assertThat(Files.readString(file)).isEqualTo(pair.privateKey() + "\n");
	}

	@Test
	void aKeyWrittenByWgGenkeyIsRead() throws Exception {
		Path file = directory.resolve("wg.key");
		Process genkey = new ProcessBuilder("wg", "genkey").redirectOutput(file.toFile()).start();
		assertThat(genkey.waitFor()).isZero();
		Process pubkey = new ProcessBuilder("wg", "pubkey").redirectInput(file.toFile()).start();
		String expected = new String(pubkey.getInputStream().readAllBytes()).trim();
		assertThat(pubkey.waitFor()).isZero();
		assertThat(FileServerIdentity.loadOrCreate(file).publicKey()).isEqualTo(expected);
	}

	@Test
	void aFileWithoutAKeyStopsTheStartWithoutShowingItsContent() throws Exception {
		Path file = directory.resolve("server.key");
		Files.writeString(file, "not-a-key-SECRETSTUFF\n");
		assertThatExceptionOfType(InvalidSettingException.class).isThrownBy(() -> FileServerIdentity.loadOrCreate(file))
			.satisfies(e -> assertThat(e.key()).isEqualTo("WG_PRIVATE_KEY_FILE"))
			.satisfies(e -> assertThat(e.getMessage()).doesNotContain("SECRETSTUFF"));
	}

}
