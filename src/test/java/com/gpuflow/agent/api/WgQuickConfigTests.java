package com.gpuflow.agent.api;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class WgQuickConfigTests {

	@Test
	void rendersTheSpecLayoutExactly() {
		WgQuickConfig config = new WgQuickConfig("cHJpdmF0ZQ==", "10.77.0.5", "c2VydmVy", "gpu.example.org:51820",
				"10.77.0.1", 25);
		assertThat(config.render()).isEqualTo("""
				[Interface]
				PrivateKey = cHJpdmF0ZQ==
				Address = 10.77.0.5/32

				[Peer]
				PublicKey = c2VydmVy
				Endpoint = gpu.example.org:51820
				AllowedIPs = 10.77.0.1/32
				PersistentKeepalive = 25
				""");
	}

	@Test
	void renterOwnKeyConfigsCarryThePlaceholder() {
		String text = new WgQuickConfig(WgQuickConfig.RENTER_KEY_PLACEHOLDER, "10.77.0.9", "k", "[2001:db8::1]:51820",
				"10.77.0.1", 10)
			.render();
		assertThat(text).contains("PrivateKey = <your private key>\n")
			.contains("Endpoint = [2001:db8::1]:51820\n")
			.contains("PersistentKeepalive = 10\n");
	}

	@Test
	void toStringLeavesThePrivateKeyOut() {
		assertThat(new WgQuickConfig("c2VjcmV0", "10.77.0.5", "k", "h:1", "10.77.0.1", 25).toString())
			.doesNotContain("c2VjcmV0");
	}

}
