package com.gpuflow.agent.config;

import java.net.InetAddress;
import java.util.List;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TrustedProxiesTest {

	final TrustedProxies loopback = TrustedProxies.parse(TrustedProxies.DEFAULT);

	@Test
	void aTrustedProxyForwardsTheFirstXForwardedForEntry() throws Exception {
		assertThat(loopback.clientOf(ip("127.0.0.1"), List.of("203.0.113.7, 10.0.0.1", "198.51.100.1"), "192.0.2.9"))
			.isEqualTo(ip("203.0.113.7"));
		assertThat(loopback.clientOf(ip("::1"), List.of(), "192.0.2.9")).isEqualTo(ip("192.0.2.9"));
		assertThat(loopback.clientOf(ip("::1"), List.of("[2001:db8::5]"), null)).isEqualTo(ip("2001:db8::5"));
	}

	@Test
	void anyoneElsesHeadersAreIgnored() throws Exception {
		assertThat(loopback.clientOf(ip("198.51.100.20"), List.of("203.0.113.7"), "192.0.2.9"))
			.isEqualTo(ip("198.51.100.20"));
		assertThat(loopback.clientOf(ip("127.0.0.2"), List.of("203.0.113.7"), null)).isEqualTo(ip("127.0.0.2"));
	}

	@Test
	void aHeaderThatIsNoIpLiteralIsIgnoredAndNeverResolved() throws Exception {
		assertThat(loopback.clientOf(ip("127.0.0.1"), List.of("localhost"), null)).isEqualTo(ip("127.0.0.1"));
		assertThat(loopback.clientOf(ip("127.0.0.1"), List.of("example.org"), "evil.example")).isEqualTo(ip("127.0.0.1"));
		assertThat(loopback.clientOf(ip("127.0.0.1"), List.of(""), null)).isEqualTo(ip("127.0.0.1"));
		assertThat(TrustedProxies.literal("1.2.3.4.5")).isEmpty();
		assertThat(TrustedProxies.literal("x".repeat(100))).isEmpty();
	}

	@Test
	void networksMatchByPrefix() throws Exception {
		TrustedProxies proxies = TrustedProxies.parse("10.1.0.0/16, 192.168.7.128/25,2001:db8::/32");
		assertThat(proxies.trusts(ip("10.1.200.3"))).isTrue();
		assertThat(proxies.trusts(ip("10.2.0.1"))).isFalse();
		assertThat(proxies.trusts(ip("192.168.7.200"))).isTrue();
		assertThat(proxies.trusts(ip("192.168.7.100"))).isFalse();
		assertThat(proxies.trusts(ip("2001:db8:ffff::1"))).isTrue();
		assertThat(proxies.trusts(ip("2001:db9::1"))).isFalse();
		assertThat(TrustedProxies.parse("").trusts(ip("127.0.0.1"))).isFalse();
	}

	@Test
	void aBadListStopsTheStartNamingTheKey() {
		for (String bad : new String[] { "10.0.0.0/33", "10.0.0.0/x", "host.example/8", "::1/129", "10.0.0/8" }) {
			assertThatThrownBy(() -> TrustedProxies.parse(bad)).isInstanceOf(InvalidSettingException.class)
				.hasMessageStartingWith("GPUFLOW_TRUSTED_PROXIES: ");
		}
	}

	private static InetAddress ip(String literal) {
		return TrustedProxies.literal(literal).orElseThrow();
	}

}
