package com.gpuflow.agent.wireguard;

import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.testsupport.RenterNamespace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WireGuardInterfaceTest {

	final TestInterface wg = new TestInterface(Clock.systemUTC(), Duration.ofMinutes(1));

	@AfterEach
	void cleanUp() {
		wg.close();
	}

	@Test
	void bootstrapCreatesAConfiguredInterfaceWithANewKeyReadableOnlyByTheOwner() throws Exception {
		wg.wireGuard.ensure();

		assertThat(wg.wireGuard.kind()).as("this kernel has no WireGuard module").contains(WireGuardInterface.Kind.USERSPACE);
		assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(wg.keyFile))).isEqualTo("rw-------");
		String privateKey = Files.readString(wg.keyFile).strip();
		WgDump dump = wg.dump();
		assertThat(dump.publicKey()).contains(WireGuardKeys.publicKeyOf(privateKey));
		assertThat(wg.wireGuard.publicKey()).isEqualTo(WireGuardKeys.publicKeyOf(privateKey));
		assertThat(dump.listenPort()).isEqualTo(wg.port);
		assertThat(dump.peers()).isEmpty();
		String link = RenterNamespace.sh("ip", "-o", "address", "show", "dev", wg.name);
		assertThat(link).contains("inet " + wg.serverIp() + "/24");
		assertThat(RenterNamespace.sh("ip", "-o", "link", "show", "dev", wg.name)).contains(",UP");
		String table = RenterNamespace.sh("nft", "list", "table", "inet", wg.wireGuard.nftTable());
		assertThat(IsolationRules.normalize(table))
			.isEqualTo(IsolationRules.normalize(IsolationRules.table(wg.wireGuard.firewall().spec())));
	}

	@Test
	void bootstrapAgainKeepsTheKeyAndLivePeers() throws Exception {
		wg.wireGuard.ensure();
		String key = Files.readString(wg.keyFile);
		String peer = WireGuardKeys.generate().publicKey();
		wg.wg("set", wg.name, "peer", peer, "allowed-ips", wg.ip(9) + "/32");

		wg.wireGuard.ensure();

		assertThat(Files.readString(wg.keyFile)).isEqualTo(key);
		assertThat(wg.dump().peers()).extracting(LivePeer::publicKey).containsExactly(peer);
		assertThat(RenterNamespace.sh("nft", "list", "tables")).containsOnlyOnce("inet " + wg.wireGuard.nftTable());
	}

	@Test
	void anExistingKeyFileIsUsedAndNeverRewritten() throws Exception {
		WireGuardKeys.KeyPairText pair = WireGuardKeys.generate();
		Files.createDirectories(wg.keyFile.getParent());
		Files.writeString(wg.keyFile, pair.privateKey() + "\n");
		Files.setPosixFilePermissions(wg.keyFile, PosixFilePermissions.fromString("rw-------"));

		wg.wireGuard.ensure();

		assertThat(wg.dump().publicKey()).contains(pair.publicKey());
		assertThat(Files.readString(wg.keyFile)).isEqualTo(pair.privateKey() + "\n");
	}

	@Test
	void aKeyFileWithoutAKeyStopsTheBootstrapWithoutPrintingItsContent() throws Exception {
		Files.createDirectories(wg.keyFile.getParent());
		Files.writeString(wg.keyFile, "not-a-key-but-maybe-a-secret\n");

		assertThatThrownBy(wg.wireGuard::ensure).isInstanceOf(WireGuardSetupException.class)
			.hasMessageContaining("WG_PRIVATE_KEY_FILE")
			.hasMessageNotContaining("not-a-key-but-maybe-a-secret");
		assertThat(wg.wireGuard.linkExists()).isFalse();
	}

	@Test
	void aMissingWireguardGoIsNamedInOneLine() {
		WireGuardInterface broken = new WireGuardInterface(new WireGuardInterface.Spec(wg.name, wg.port,
				wg.serverIp() + "/24", wg.keyFile, com.gpuflow.agent.config.AgentSettings.WgImplementation.USERSPACE,
				new WireGuardInterface.Tools("wg", "/nonexistent/wireguard-go", "ip", "nft",
						java.nio.file.Path.of("/var/run/wireguard"), java.nio.file.Path.of("/dev/net/tun"))),
				new CommandRunner(Duration.ofSeconds(10)), () -> {
				});

		assertThatThrownBy(broken::ensure).isInstanceOf(WireGuardSetupException.class)
			.hasMessageContaining("/nonexistent/wireguard-go")
			.hasMessageContaining("not installed")
			.satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
	}

	/** The real wireguard-go behind a script that first exits like a failed start {@code failures} times. */
	private WireGuardInterface withFlakyWireguardGo(int failures) throws Exception {
		java.nio.file.Path script = wg.keyDirectory.resolve("flaky-wireguard-go");
		Files.writeString(script, """
				#!/bin/sh
				count=$(cat "%1$s.count" 2>/dev/null || echo 0)
				echo $((count + 1)) > "%1$s.count"
				if [ "$count" -lt %2$d ]; then
					echo "ERROR: Failed to create TUN device: simulated failure $count"
					exit 1
				fi
				exec wireguard-go "$@"
				""".formatted(script, failures));
		Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
		return new WireGuardInterface(new WireGuardInterface.Spec(wg.name, wg.port, wg.serverIp() + "/24", wg.keyFile,
				com.gpuflow.agent.config.AgentSettings.WgImplementation.USERSPACE,
				new WireGuardInterface.Tools("wg", script.toString(), "ip", "nft", java.nio.file.Path.of("/var/run/wireguard"),
						java.nio.file.Path.of("/dev/net/tun"))),
				new CommandRunner(Duration.ofSeconds(10)), () -> {
				});
	}

	@Test
	void aWireguardGoThatExitsWhileStartingIsStartedAgain() throws Exception {
		WireGuardInterface flaky = withFlakyWireguardGo(1);
		try {
			flaky.ensure();
			assertThat(flaky.kind()).contains(WireGuardInterface.Kind.USERSPACE);
			assertThat(RenterNamespace.sh("ip", "-o", "link", "show", "dev", wg.name)).contains(",UP");
			assertThat(Files.readString(wg.keyDirectory.resolve("flaky-wireguard-go.count")).strip()).isEqualTo("2");
		}
		finally {
			flaky.destroy();
		}
	}

	@Test
	void aWireguardGoThatKeepsExitingIsNamedWithItsOwnWordsInOneLine() throws Exception {
		WireGuardInterface broken = withFlakyWireguardGo(Integer.MAX_VALUE);
		try {
			assertThatThrownBy(broken::ensure).isInstanceOf(WireGuardSetupException.class)
				.hasMessageContaining("exited with 1 while creating " + wg.name)
				.hasMessageContaining("Failed to create TUN device: simulated failure 2")
				.hasMessageContaining("3 attempts")
				.satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
		}
		finally {
			broken.destroy();
		}
	}

	@Test
	void aMissingTunDeviceAndAMissingWgAreNamedInOneLine() {
		WireGuardInterface noTun = new WireGuardInterface(new WireGuardInterface.Spec(wg.name, wg.port,
				wg.serverIp() + "/24", wg.keyFile, com.gpuflow.agent.config.AgentSettings.WgImplementation.USERSPACE,
				new WireGuardInterface.Tools("wg", "wireguard-go", "ip", "nft", java.nio.file.Path.of("/var/run/wireguard"),
						java.nio.file.Path.of("/nonexistent/tun"))),
				new CommandRunner(Duration.ofSeconds(10)), () -> {
				});
		WireGuardInterface noWg = new WireGuardInterface(new WireGuardInterface.Spec(wg.name, wg.port,
				wg.serverIp() + "/24", wg.keyFile, com.gpuflow.agent.config.AgentSettings.WgImplementation.AUTO,
				new WireGuardInterface.Tools("/nonexistent/wg", "wireguard-go", "ip", "nft",
						java.nio.file.Path.of("/var/run/wireguard"), java.nio.file.Path.of("/dev/net/tun"))),
				new CommandRunner(Duration.ofSeconds(10)), () -> {
				});

		assertThatThrownBy(noTun::ensure).isInstanceOf(WireGuardSetupException.class)
			.hasMessageContaining("/nonexistent/tun");
		assertThatThrownBy(noWg::ensure).isInstanceOf(WireGuardSetupException.class)
			.hasMessageContaining("wireguard-tools");
	}

	@Test
	void kernelModeRefusesToFallBackToUserspace() {
		WireGuardInterface kernelOnly = new WireGuardInterface(new WireGuardInterface.Spec(wg.name, wg.port,
				wg.serverIp() + "/24", wg.keyFile, com.gpuflow.agent.config.AgentSettings.WgImplementation.KERNEL,
				WireGuardInterface.Tools.standard()), new CommandRunner(Duration.ofSeconds(10)), () -> {
				});

		assertThatThrownBy(kernelOnly::ensure).isInstanceOf(WireGuardSetupException.class)
			.hasMessageContaining("WG_IMPLEMENTATION=kernel");
		assertThat(kernelOnly.linkExists()).isFalse();
	}

	@Test
	void wgErrorsCarryStderrWithKeysBlankedOut() {
		CommandRunner runner = new CommandRunner(Duration.ofSeconds(10));
		String secret = WireGuardKeys.generate().privateKey();

		assertThatThrownBy(() -> runner.run("echo", java.util.List.of("bash", "-c", "echo \"bad key " + secret + "\" >&2; exit 3"),
				java.util.Optional.empty()))
			.isInstanceOf(WgCommandException.class)
			.hasMessageContaining("exit 3")
			.hasMessageContaining("bad key <key>")
			.hasMessageNotContaining(secret);
	}

	@Test
	void aHangingCommandTimesOut() {
		CommandRunner runner = new CommandRunner(Duration.ofMillis(300));

		assertThatThrownBy(() -> runner.run("sleep", java.util.List.of("sleep", "5"), java.util.Optional.empty()))
			.isInstanceOf(WgCommandException.class)
			.hasMessageContaining("did not finish within 300 ms");
	}

}
