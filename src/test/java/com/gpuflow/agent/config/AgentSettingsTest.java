package com.gpuflow.agent.config;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class AgentSettingsTest {

	static final String HOST = "0x" + "ab".repeat(32);

	static Map<String, String> minimal() {
		Map<String, String> values = new HashMap<>();
		values.put("host-id", HOST);
		values.put("rental-contract", "0x5FbDB2315678afecb367f032d93F642f64180aa3");
		values.put("wg.endpoint", "gpu1.example.net:51820");
		return values;
	}

	static AgentSettings settings(Map<String, String> values) {
		return AgentSettings.from(values::get);
	}

	@Test
	void defaultsFollowTheSpec() {
		AgentSettings settings = settings(minimal());
		assertThat(settings.chainRpcUrl()).hasToString("http://127.0.0.1:8545");
		assertThat(settings.chainWsUrl()).isEmpty();
		assertThat(settings.chainConfirmations()).isEqualTo(2);
		assertThat(settings.chainStartBlock()).isZero();
		assertThat(settings.chainPollInterval()).isEqualTo(Duration.ofSeconds(1));
		assertThat(settings.wgInterface()).isEqualTo("wg0");
		assertThat(settings.wgPort()).isEqualTo(51820);
		assertThat(settings.wgCidr().cidr()).isEqualTo("10.77.0.0/16");
		assertThat(settings.serverTunnelIp()).isEqualTo("10.77.0.1");
		assertThat(settings.wgImplementation()).isEqualTo(AgentSettings.WgImplementation.AUTO);
		assertThat(settings.wgKeepalive()).isEqualTo(25);
		assertThat(settings.reconcileInterval()).isEqualTo(Duration.ofSeconds(5));
		assertThat(settings.serverPort()).isEqualTo(8082);
		assertThat(settings.publicUrl()).hasToString("https://gpu1.example.net:8082");
		assertThat(settings.rentalContract()).isEqualTo("0x5fbdb2315678afecb367f032d93f642f64180aa3");
	}

	@Test
	void eachBadSettingNamesItsKey() {
		assertRefused("host-id", "0x1234", "HOST_ID");
		assertRefused("host-id", null, "HOST_ID");
		assertRefused("rental-contract", "nope", "RENTAL_CONTRACT");
		assertRefused("wg.endpoint", "gpu1.example.net", "WG_ENDPOINT");
		assertRefused("wg.endpoint", "gpu1.example.net:99999", "WG_ENDPOINT");
		assertRefused("wg.endpoint", "::1:51820", "WG_ENDPOINT");
		assertRefused("wg.cidr", "10.77.0.0/33", "WG_CIDR");
		assertRefused("wg.cidr", "10.77.0.1/16", "WG_CIDR");
		assertRefused("wg.cidr", "fd00::/64", "WG_CIDR");
		assertRefused("wg.cidr", "300.1.0.0/16", "WG_CIDR");
		assertRefused("wg.implementation", "magic", "WG_IMPLEMENTATION");
		assertRefused("wg.interface", "a-name-far-too-long", "WG_INTERFACE");
		assertRefused("chain.confirmations", "-1", "CHAIN_CONFIRMATIONS");
		assertRefused("chain.poll-interval", "soon", "CHAIN_POLL_INTERVAL");
		assertRefused("chain.rpc-url", "ftp://node", "CHAIN_RPC_URL");
		assertRefused("gpuflow.key-encryption-key", "c2hvcnQ=", "GPUFLOW_KEY_ENCRYPTION_KEY");
		assertRefused("gpuflow.key-encryption-key", "not base64!", "GPUFLOW_KEY_ENCRYPTION_KEY");
		assertRefused("audit-token", "short", "AUDIT_TOKEN");
	}

	@Test
	void acceptsOtherPrivateRangesAndBracketedIpv6Endpoints() {
		Map<String, String> values = minimal();
		values.put("wg.cidr", "192.168.40.0/24");
		values.put("wg.endpoint", "[2001:db8::1]:51820");
		AgentSettings settings = settings(values);
		assertThat(settings.serverTunnelIp()).isEqualTo("192.168.40.1");
		assertThat(settings.wgCidr().renterCapacity()).isEqualTo(253);
		assertThat(settings.wgEndpoint()).hasToString("[2001:db8::1]:51820");
		assertThat(settings.publicUrl()).hasToString("https://[2001:db8::1]:8082");
	}

	@Test
	void thePublicUrlIsPlainHttpOnlyWithTlsOff() {
		Map<String, String> values = minimal();
		values.put("gpuflow.tls", "off");
		assertThat(settings(values).publicUrl()).hasToString("http://gpu1.example.net:8082");
		values.put("gpuflow.tls", "auto");
		assertThat(settings(values).publicUrl()).hasToString("https://gpu1.example.net:8082");
	}

	@Test
	void toStringNeverShowsSecrets() {
		Map<String, String> values = minimal();
		values.put("audit-token", "super-secret-token-123");
		values.put("gpuflow.key-encryption-key", java.util.Base64.getEncoder().encodeToString(new byte[32]));
		assertThat(settings(values).toString()).doesNotContain("super-secret-token-123").doesNotContain("AAAAAAAA");
	}

	private static void assertRefused(String property, String value, String key) {
		Map<String, String> values = minimal();
		values.put(property, value);
		assertThatThrownBy(() -> settings(values)).isInstanceOf(InvalidSettingException.class)
			.hasMessageStartingWith(key + ":")
			.satisfies(e -> assertThat(((InvalidSettingException) e).key()).isEqualTo(key));
	}

}
