package com.gpuflow.agent.config;

import java.net.InetAddress;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TrustedProxiesTest {

	static InetAddress ip(String literal) throws Exception {
		return InetAddress.getByAddress(TrustedProxies.literal(literal).orElseThrow());
	}

	@Test
	void theDefaultTrustsLoopbackOnlyAndNotTheRestOf127() throws Exception {
		TrustedProxies loopback = TrustedProxies.parse(TrustedProxies.DEFAULT);
		assertThat(loopback.trusts(ip("127.0.0.1"))).isTrue();
		assertThat(loopback.trusts(ip("::1"))).isTrue();
		assertThat(loopback.trusts(ip("::ffff:127.0.0.1"))).as("IPv4-mapped").isTrue();
		assertThat(loopback.trusts(ip("127.0.0.2"))).isFalse();
		assertThat(loopback.trusts(ip("10.77.0.2"))).isFalse();
	}

	@Test
	void networksMatchByPrefixAndSingleAddressesExactly() throws Exception {
		TrustedProxies proxies = TrustedProxies.parse(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8");
		assertThat(proxies.trusts(ip("10.255.1.2"))).isTrue();
		assertThat(proxies.trusts(ip("11.0.0.1"))).isFalse();
		assertThat(proxies.trusts(ip("192.168.1.7"))).isTrue();
		assertThat(proxies.trusts(ip("192.168.1.8"))).isFalse();
		assertThat(proxies.trusts(ip("fd12::1"))).isTrue();
		assertThat(proxies.trusts(ip("fe80::1"))).isFalse();
		assertThat(TrustedProxies.parse("10.1.2.0/23").trusts(ip("10.1.3.255"))).isTrue();
		assertThat(TrustedProxies.parse("10.1.2.0/23").trusts(ip("10.1.4.0"))).isFalse();
	}

	@Test
	void badEntriesAreRefusedNamingThem() {
		assertThatThrownBy(() -> TrustedProxies.parse("127.0.0.1/33")).hasMessageContaining("'127.0.0.1/33'");
		assertThatThrownBy(() -> TrustedProxies.parse("localhost")).hasMessageContaining("'localhost' is not an IP");
		assertThatThrownBy(() -> TrustedProxies.parse("10.0.0.1/8")).hasMessageContaining("bits set past");
		assertThatThrownBy(() -> TrustedProxies.parse("256.0.0.0/8")).hasMessageContaining("not an IP");
	}

	@Test
	void literalsAreNeverLookedUp() {
		assertThat(TrustedProxies.literal("example.org")).isEmpty();
		assertThat(TrustedProxies.literal("10.77.0.05")).isEmpty();
		assertThat(TrustedProxies.canonical("::FFFF:10.77.0.5")).contains("10.77.0.5");
		assertThat(TrustedProxies.canonical("2001:DB8:0:0::1")).contains("2001:db8:0:0:0:0:0:1");
	}

	@Test
	void aBadSettingStopsTheStartNamingTheKey() {
		Map<String, String> values = Map.of("host-id", "0x" + "ab".repeat(32), "rental-contract", "0x" + "cd".repeat(20),
				"wg.endpoint", "gpu.example.org:51820", "gpuflow.trusted-proxies", "10.0.0.0/8,nonsense");
		assertThatThrownBy(() -> AgentSettings.from(values::get)).isInstanceOf(InvalidSettingException.class)
			.hasMessageContaining("GPUFLOW_TRUSTED_PROXIES").hasMessageContaining("'nonsense'");
	}

	static final TrustedProxies LOOPBACK = TrustedProxies.parse(TrustedProxies.DEFAULT);

	@Test
	void aTrustedProxyForwardsTheFirstXForwardedForEntry() throws Exception {
		assertThat(LOOPBACK.clientOf(ip("127.0.0.1"), List.of("203.0.113.7, 10.0.0.1", "198.51.100.1"), "192.0.2.9"))
			.isEqualTo(ip("203.0.113.7"));
		assertThat(LOOPBACK.clientOf(ip("::1"), List.of(), "192.0.2.9")).isEqualTo(ip("192.0.2.9"));
		assertThat(LOOPBACK.clientOf(ip("::1"), List.of("[2001:db8::5]"), null)).isEqualTo(ip("2001:db8::5"));
	}

	@Test
	void anyoneElsesHeadersAreIgnored() throws Exception {
		assertThat(LOOPBACK.clientOf(ip("198.51.100.20"), List.of("203.0.113.7"), "192.0.2.9"))
			.isEqualTo(ip("198.51.100.20"));
		assertThat(LOOPBACK.clientOf(ip("127.0.0.2"), List.of("203.0.113.7"), null)).isEqualTo(ip("127.0.0.2"));
	}

	@Test
	void aHeaderThatIsNoIpLiteralIsIgnoredAndNeverResolved() throws Exception {
		assertThat(LOOPBACK.clientOf(ip("127.0.0.1"), List.of("localhost"), null)).isEqualTo(ip("127.0.0.1"));
		assertThat(LOOPBACK.clientOf(ip("127.0.0.1"), List.of("example.org"), "evil.example")).isEqualTo(ip("127.0.0.1"));
		assertThat(LOOPBACK.clientOf(ip("127.0.0.1"), List.of(""), null)).isEqualTo(ip("127.0.0.1"));
		assertThat(TrustedProxies.literal("1.2.3.4.5")).isEmpty();
		assertThat(TrustedProxies.literal("x".repeat(100))).isEmpty();
	}

}
