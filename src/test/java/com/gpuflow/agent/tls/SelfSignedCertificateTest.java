package com.gpuflow.agent.tls;

import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.TimeUnit;

import com.gpuflow.agent.config.InvalidSettingException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import org.springframework.boot.SpringApplication;
import org.springframework.mock.env.MockEnvironment;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SelfSignedCertificateTest {

	@TempDir
	Path directory;

	@Test
	void madeOnceWithAnOwnerOnlyKeyAndReusedAfter() throws Exception {
		SelfSignedCertificate.Pair first = SelfSignedCertificate.loadOrCreate(directory, List.of("gpu.example.org", "127.0.0.1"));
		assertThat(first.created()).isTrue();
		String certificate = Files.readString(first.certificate());
		assertThat(certificate).startsWith("-----BEGIN CERTIFICATE-----\n");
		assertThat(Files.readString(first.privateKey())).startsWith("-----BEGIN PRIVATE KEY-----\n");
		assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(first.privateKey()))).isEqualTo("rw-------");

		SelfSignedCertificate.Pair second = SelfSignedCertificate.loadOrCreate(directory, List.of("other.example.org"));
		assertThat(second.created()).isFalse();
		assertThat(Files.readString(second.certificate())).isEqualTo(certificate);
	}

	@Test
	void itsPinIsWhatOpensslComputesAndItNamesTheHosts() throws Exception {
		SelfSignedCertificate.Pair pair = SelfSignedCertificate.loadOrCreate(directory, List.of("gpu.example.org", "10.0.0.7"));
		X509Certificate certificate = (X509Certificate) CertificateFactory.getInstance("X.509")
			.generateCertificate(new ByteArrayInputStream(Files.readAllBytes(pair.certificate())));
		Process openssl = new ProcessBuilder("bash", "-c", "openssl x509 -in '" + pair.certificate()
				+ "' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64")
			.start();
		assertThat(openssl.waitFor(30, TimeUnit.SECONDS)).isTrue();
		String opensslPin = new String(openssl.getInputStream().readAllBytes()).trim();
		assertThat(TlsPin.Pin.of(certificate).base64()).isEqualTo(opensslPin);
		assertThat(certificate.getSubjectAlternativeNames().stream().map(name -> String.valueOf(name.get(1))).toList())
			.containsExactly("gpu.example.org", "10.0.0.7");
	}

	@Test
	void tlsSettingsThatCannotWorkStopTheStartNamingTheKey() throws Exception {
		assertRefused(new MockEnvironment().withProperty("gpuflow.tls", "on"), "GPUFLOW_TLS");
		Path certificate = Files.writeString(directory.resolve("c.pem"), "x");
		assertRefused(new MockEnvironment().withProperty("gpuflow.tls.cert-file", certificate.toString()),
				"GPUFLOW_TLS_KEY_FILE");
		assertRefused(new MockEnvironment().withProperty("gpuflow.tls.cert-file", certificate.toString())
			.withProperty("gpuflow.tls.key-file", directory.resolve("missing.pem").toString()), "GPUFLOW_TLS_KEY_FILE");
	}

	@Test
	void offLeavesThePortPlainAndAutoMakesTheCertificateBesideTheServerKey() {
		MockEnvironment off = new MockEnvironment().withProperty("gpuflow.tls", "off");
		new TlsEnvironment().postProcessEnvironment(off, new SpringApplication());
		assertThat(off.getProperty("server.ssl.bundle")).isNull();

		MockEnvironment auto = new MockEnvironment().withProperty("wg.private-key-file",
				directory.resolve("keys/server.key").toString());
		new TlsEnvironment().postProcessEnvironment(auto, new SpringApplication());
		assertThat(auto.getProperty("server.ssl.bundle")).isEqualTo(TlsEnvironment.BUNDLE);
		assertThat(directory.resolve("keys/tls.crt")).exists();
		assertThat(auto.getProperty("spring.ssl.bundle.pem.gpuflow-renter.keystore.certificate"))
			.isEqualTo("file:" + directory.resolve("keys/tls.crt"));
	}

	private static void assertRefused(MockEnvironment environment, String key) {
		assertThatThrownBy(() -> new TlsEnvironment().postProcessEnvironment(environment, new SpringApplication()))
			.isInstanceOf(InvalidSettingException.class)
			.hasMessageStartingWith(key + ": ");
	}

}
