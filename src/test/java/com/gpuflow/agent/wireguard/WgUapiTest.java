package com.gpuflow.agent.wireguard;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;

import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.testsupport.Ports;
import com.gpuflow.agent.testsupport.RenterNamespace;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

import static com.gpuflow.agent.wireguard.Keys.key;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WgUapiTest {

	static String hex(String base64) {
		return HexFormat.of().formatHex(Base64.getDecoder().decode(base64));
	}

	@Nested
	class Requests {

		@Test
		void aPlanIsOneSetRequestInThePlansOrderWithEachKeepaliveAfterItsPeersOtherSettings() {
			Peer removed = Peer.of(key(1), List.of("10.213.0.2"), 25);
			Peer released = Peer.of(key(2), List.of("10.213.0.3"), 25);
			Peer added = Peer.of(key(3), List.of("10.213.0.4", "10.213.0.5"), 25).withEndpoint("192.0.2.7:40000");
			Peer before = Peer.of(key(4), List.of("10.213.0.6"), 25);
			Peer after = Peer.of(key(4), List.of("10.213.0.7"), 0);
			PeerPlan plan = new PeerPlan(List.of(removed), List.of(released), List.of(added),
					List.of(new PeerPlan.PeerUpdate(before, after)), List.of());

			assertThat(WgUapi.setRequest(plan)).isEqualTo("set=1\n"
					+ "public_key=" + hex(key(1)) + "\nremove=true\n"
					+ "public_key=" + hex(key(2)) + "\nreplace_allowed_ips=true\nallowed_ip=10.213.0.3/32\n"
					+ "public_key=" + hex(key(3)) + "\nendpoint=192.0.2.7:40000\nreplace_allowed_ips=true\n"
					+ "allowed_ip=10.213.0.4/32\nallowed_ip=10.213.0.5/32\npersistent_keepalive_interval=25\n"
					+ "public_key=" + hex(key(4)) + "\nreplace_allowed_ips=true\nallowed_ip=10.213.0.7/32\n"
					+ "persistent_keepalive_interval=0\n"
					+ "\n");
		}

		@Test
		void anUpdateSendsOnlyWhatChanges() {
			Peer before = Peer.of(key(4), List.of("10.213.0.6"), 25);
			PeerPlan keepaliveOnly = new PeerPlan(List.of(), List.of(), List.of(),
					List.of(new PeerPlan.PeerUpdate(before, Peer.of(key(4), List.of("10.213.0.6"), 10))), List.of());

			assertThat(WgUapi.setRequest(keepaliveOnly))
				.isEqualTo("set=1\npublic_key=" + hex(key(4)) + "\npersistent_keepalive_interval=10\n\n");
		}

	}

	@Nested
	class Answers {

		@Test
		void aGetAnswerReadsAsTheSameDumpWgShowGives() {
			WireGuardKeys.KeyPairText server = WireGuardKeys.generate();
			String privateKey = server.privateKey();
			String answer = "private_key=" + hex(privateKey) + "\nlisten_port=51820\n"
					+ "public_key=" + hex(key(1)) + "\npreshared_key=" + "0".repeat(64) + "\nprotocol_version=1\n"
					+ "endpoint=192.0.2.7:40000\nlast_handshake_time_sec=1764100000\nlast_handshake_time_nsec=5\n"
					+ "tx_bytes=3400\nrx_bytes=1200\npersistent_keepalive_interval=25\nallowed_ip=10.213.0.2/32\n"
					+ "public_key=" + hex(key(2)) + "\npreshared_key=" + "0".repeat(64) + "\nprotocol_version=1\n"
					+ "last_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n"
					+ "persistent_keepalive_interval=0\nallowed_ip=10.213.0.4/32\nallowed_ip=10.213.0.3/32\n";
			String dump = privateKey + "\t" + server.publicKey() + "\t51820\toff\n"
					+ key(1) + "\t(none)\t192.0.2.7:40000\t10.213.0.2/32\t1764100000\t1200\t3400\t25\n"
					+ key(2) + "\t(none)\t(none)\t10.213.0.3/32,10.213.0.4/32\t0\t0\t0\toff\n";

			WgDump parsed = WgUapi.parseGet(answer);

			assertThat(parsed).isEqualTo(WgDump.parse(dump));
			assertThat(parsed.publicKey()).contains(server.publicKey());
			assertThat(parsed.toString()).doesNotContain(privateKey).doesNotContain(hex(privateKey));
		}

		@Test
		void aPresharedKeyIsKeptOnlyAsSetOrNotAndAnInterfaceWithoutKeyHasNoPublicKey() {
			String preshared = hex("FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=");
			WgDump parsed = WgUapi.parseGet("public_key=" + hex(key(1)) + "\npreshared_key=" + preshared
					+ "\nallowed_ip=10.213.0.2/32\n");

			assertThat(parsed.publicKey()).isEmpty();
			assertThat(parsed.listenPort()).isZero();
			assertThat(parsed.peers()).singleElement().satisfies(peer -> {
				assertThat(peer.hasPresharedKey()).isTrue();
				assertThat(peer.latestHandshake()).isEmpty();
			});
			assertThat(parsed.toString()).doesNotContain(preshared);
		}

		@Test
		void aMalformedAnswerIsRefusedWithoutItsContent() {
			assertThatIllegalArgumentException().isThrownBy(() -> WgUapi.parseGet("private_key\n"));
			assertThatIllegalArgumentException()
				.isThrownBy(() -> WgUapi.parseGet("public_key=" + hex(key(1)) + "\nrx_bytes=soon\n"))
				.withMessageContaining("rx_bytes")
				.withMessageNotContaining("soon");
		}

	}

	/** Against a real wireguard-go: the socket path and the {@code wg} path see and do the same. */
	@Nested
	class OnWireGuardGo {

		@Test
		void changesThroughTheSocketAreWhatWgShowsAndTheSocketReadsWhatWgSet() throws Exception {
			try (TestInterface wg = new TestInterface(Clock.systemUTC(), Duration.ofMinutes(1))) {
				wg.wireGuard.ensure();
				WgCommand command = wg.wireGuard.wg();
				String stays = WireGuardKeys.generate().publicKey();
				String goes = WireGuardKeys.generate().publicKey();
				// An endpoint on loopback where nothing listens: the keepalive's handshakes go nowhere.
				String nowhere = "127.0.0.1:" + Ports.udp();
				Peer staying = Peer.of(stays, List.of(wg.ip(2), wg.ip(3)), 25).withEndpoint(nowhere);
				Peer going = Peer.of(goes, List.of(wg.ip(4)), 0);

				command.apply(PeerDiff.between(List.of(staying, going), List.of()));

				WgDump overSocket = command.dump();
				WgDump fromWg = WgDump.parse(wg.wg("show", wg.name, "dump"));
				assertSameConfiguration(overSocket, fromWg);
				assertThat(overSocket.publicKey()).contains(wg.wireGuard.publicKey());
				assertThat(overSocket.listenPort()).isEqualTo(wg.port);
				assertThat(overSocket.configuredPeers()).containsExactlyInAnyOrder(staying, going);

				// A release, a removal and a keepalive change in one request; then a hand edit with wg.
				Peer narrowed = Peer.of(stays, List.of(wg.ip(3)), 10).withEndpoint(nowhere);
				command.apply(PeerDiff.between(List.of(narrowed), overSocket.configuredPeers()));
				assertThat(command.dump().configuredPeers()).containsExactly(narrowed);
				wg.wg("set", wg.name, "peer", goes, "allowed-ips", wg.ip(9) + "/32");
				assertSameConfiguration(command.dump(), WgDump.parse(wg.wg("show", wg.name, "dump")));
				assertThat(command.dump().configuredPeers()).extracting(Peer::publicKey).containsExactlyInAnyOrder(stays, goes);
			}
		}

		/**
		 * Two reads a moment apart: the configuration must match; the counters move (the keepalive
		 * sends handshakes) and the order of peers is the reader's own.
		 */
		private static void assertSameConfiguration(WgDump actual, WgDump expected) {
			assertThat(actual.publicKey()).isEqualTo(expected.publicKey());
			assertThat(actual.listenPort()).isEqualTo(expected.listenPort());
			assertThat(actual.configuredPeers()).containsExactlyInAnyOrderElementsOf(expected.configuredPeers());
		}

		@Test
		void aRefusedRequestFailsWithWireGuardGosErrnoAndNoSocketMeansNoAnswer() throws Exception {
			try (TestInterface wg = new TestInterface(Clock.systemUTC(), Duration.ofMinutes(1))) {
				wg.wireGuard.ensure();
				Path socket = WireGuardInterface.Tools.standard().socketDirectory().resolve(wg.name + ".sock");

				assertThatThrownBy(() -> WgUapi.exchange(socket, "set=1\npublic_key=nothex\n\n", Duration.ofSeconds(5),
						"a set of a malformed key"))
					.isInstanceOf(WgCommandException.class)
					.hasMessageContaining("a set of a malformed key failed (errno");
				assertThatThrownBy(() -> WgUapi.exchange(socket.resolveSibling(wg.name + "-none.sock"), "get=1\n\n",
						Duration.ofSeconds(5), "a get without wireguard-go"))
					.isInstanceOf(IOException.class);
				assertThat(RenterNamespace.sh("wg", "show", wg.name, "peers")).isBlank();
			}
		}

	}

	@Test
	void aHandshakeTimeIsKeptToTheSecond() {
		WgDump parsed = WgUapi.parseGet("public_key=" + hex(key(1)) + "\nlast_handshake_time_sec=1764100000\n"
				+ "last_handshake_time_nsec=999999999\n");

		assertThat(parsed.peers().get(0).latestHandshake()).contains(Instant.ofEpochSecond(1764100000));
		assertThat(parsed.peers().get(0).peer()).isEqualTo(new Peer(key(1), new TreeSet<>(), 0, Optional.empty()));
	}

}
