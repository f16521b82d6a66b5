package com.gpuflow.agent.tls;

import java.net.URI;
import java.util.Arrays;
import java.util.Optional;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class HostEndpointCheckTest {

	static final URI OWN = URI.create("https://gpu-1.example.org:8082");

	static final TlsPin.Pin PIN = new TlsPin.Pin(filled(7));

	@Test
	void nothingPublishedIsNotPublished() {
		assertThat(HostEndpointCheck.compare(OWN, Optional.of(PIN), "", new byte[32]).state())
			.isEqualTo(HostEndpointCheck.State.NOT_PUBLISHED);
	}

	@Test
	void theSameUrlAndPinMatchEvenWithATrailingSlashOrUpperCaseHost() {
		assertThat(HostEndpointCheck.compare(OWN, Optional.of(PIN), "https://gpu-1.example.org:8082", filled(7)).state())
			.isEqualTo(HostEndpointCheck.State.MATCHES);
		assertThat(HostEndpointCheck.compare(OWN, Optional.of(PIN), "HTTPS://GPU-1.example.org:8082/", filled(7)).state())
			.isEqualTo(HostEndpointCheck.State.MATCHES);
	}

	@Test
	void anotherPinOrUrlIsAMismatchSayingWhichDiffers() {
		HostEndpointCheck pin = HostEndpointCheck.compare(OWN, Optional.of(PIN), OWN.toString(), filled(8));
		assertThat(pin.state()).isEqualTo(HostEndpointCheck.State.MISMATCH);
		assertThat(pin.pinDiffers()).isTrue();
		assertThat(pin.urlDiffers()).isFalse();
		HostEndpointCheck url = HostEndpointCheck.compare(OWN, Optional.of(PIN), "https://gpu-1.example.org:9000", filled(7));
		assertThat(url.state()).isEqualTo(HostEndpointCheck.State.MISMATCH);
		assertThat(url.urlDiffers()).isTrue();
		assertThat(url.pinDiffers()).isFalse();
		assertThat(HostEndpointCheck.compare(OWN, Optional.of(PIN), "http://gpu-1.example.org:8082", filled(7)).state())
			.as("http for an https agent").isEqualTo(HostEndpointCheck.State.MISMATCH);
	}

	@Test
	void withTlsOffTheExpectedPinIsZero() {
		URI plain = URI.create("http://gpu-1.example.org:8082");
		assertThat(HostEndpointCheck.compare(plain, Optional.empty(), plain.toString(), new byte[32]).state())
			.isEqualTo(HostEndpointCheck.State.MATCHES);
		assertThat(HostEndpointCheck.compare(plain, Optional.empty(), plain.toString(), filled(7)).state())
			.isEqualTo(HostEndpointCheck.State.MISMATCH);
	}

	@Test
	void aChangeIsWorthALogLineOnlyWhenStateOrValuesChange() {
		HostEndpointCheck first = HostEndpointCheck.compare(OWN, Optional.of(PIN), OWN.toString(), filled(8));
		assertThat(first.sameAs(HostEndpointCheck.compare(OWN, Optional.of(PIN), OWN.toString(), filled(8)))).isTrue();
		assertThat(first.sameAs(HostEndpointCheck.compare(OWN, Optional.of(PIN), OWN.toString(), filled(9)))).isFalse();
		assertThat(first.sameAs(HostEndpointCheck.compare(OWN, Optional.of(new TlsPin.Pin(filled(1))), OWN.toString(),
				filled(8)))).isFalse();
		assertThat(first.sameAs(null)).isFalse();
	}

	@Test
	void aPinIsWrittenAsHexForTheContractAndBase64ForCurl() {
		assertThat(PIN.hex()).isEqualTo("0x" + "07".repeat(32));
		assertThat(PIN).hasToString("sha256//BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=");
	}

	static byte[] filled(int value) {
		byte[] bytes = new byte[32];
		Arrays.fill(bytes, (byte) value);
		return bytes;
	}

}
