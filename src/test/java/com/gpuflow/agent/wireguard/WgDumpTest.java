package com.gpuflow.agent.wireguard;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

import org.junit.jupiter.api.Test;

import static com.gpuflow.agent.wireguard.Keys.key;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

class WgDumpTest {

	static final String PRIVATE = "oBvVLdXUXNQ9o2Or5FAJ4Sd4WJ3HsCqUH9z6JJmvmV4=";

	static final String SERVER = "IJYObsdg34xW28/MHGcT0do4XxU3Kt4rHTwBTwQpm1E=";

	@Test
	void readsTheInterfaceLineAndEveryPeerLine() {
		String dump = PRIVATE + "\t" + SERVER + "\t51820\toff\n"
				+ key(1) + "\t(none)\t192.0.2.7:40000\t10.213.0.2/32\t1764100000\t1200\t3400\t25\n"
				+ key(2) + "\t(none)\t(none)\t10.213.0.3/32,10.213.0.4/32\t0\t0\t0\toff\n";

		WgDump parsed = WgDump.parse(dump);

		assertThat(parsed.publicKey()).contains(SERVER);
		assertThat(parsed.listenPort()).isEqualTo(51820);
		assertThat(parsed.peers()).containsExactly(
				new LivePeer(new Peer(key(1), new java.util.TreeSet<>(List.of("10.213.0.2/32")), 25,
						Optional.of("192.0.2.7:40000")), false, Optional.of(Instant.ofEpochSecond(1764100000)), 1200, 3400),
				new LivePeer(Peer.of(key(2), List.of("10.213.0.3/32", "10.213.0.4/32"), 0), false, Optional.empty(), 0, 0));
	}

	@Test
	void aPeerWithoutAllowedIpsHasAnEmptySet() {
		WgDump parsed = WgDump.parse("(none)\t(none)\t0\toff\n" + key(1) + "\t(none)\t(none)\t(none)\t0\t0\t0\toff\n");

		assertThat(parsed.publicKey()).isEmpty();
		assertThat(parsed.peers()).singleElement().satisfies(p -> assertThat(p.peer().allowedIps()).isEmpty());
	}

	@Test
	void anInterfaceWithoutPeersHasNone() {
		assertThat(WgDump.parse(PRIVATE + "\t" + SERVER + "\t51820\toff\n").peers()).isEmpty();
	}

	@Test
	void keepsNoKeyMaterialButWhetherAPresharedKeyIsSet() {
		String preshared = "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=";
		WgDump parsed = WgDump.parse(PRIVATE + "\t" + SERVER + "\t51820\toff\n" + key(1) + "\t" + preshared
				+ "\t(none)\t10.213.0.2/32\t0\t0\t0\t25\n");

		assertThat(parsed.peers().get(0).hasPresharedKey()).isTrue();
		assertThat(parsed.toString()).doesNotContain(PRIVATE).doesNotContain(preshared);
	}

	@Test
	void aMalformedDumpIsRefusedWithTheLineNumberAndNoContent() {
		assertThatIllegalArgumentException().isThrownBy(() -> WgDump.parse(""));
		assertThatIllegalArgumentException()
			.isThrownBy(() -> WgDump.parse(PRIVATE + "\t" + SERVER + "\t51820\toff\nbroken\tline\n"))
			.withMessageContaining("line 2")
			.withMessageNotContaining(PRIVATE);
		assertThatIllegalArgumentException()
			.isThrownBy(() -> WgDump.parse(PRIVATE + "\tx\n"))
			.withMessageNotContaining(PRIVATE);
		assertThatIllegalArgumentException()
			.isThrownBy(() -> WgDump.parse(PRIVATE + "\t" + SERVER + "\t51820\toff\n" + key(1)
					+ "\t(none)\t(none)\t10.213.0.2/32\tsoon\t0\t0\t25\n"))
			.withMessageContaining("latest handshake");
	}

}
