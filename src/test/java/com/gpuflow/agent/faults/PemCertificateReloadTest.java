package com.gpuflow.agent.faults;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * GPUFLOW_TLS_CERT_FILE/GPUFLOW_TLS_KEY_FILE as a Kubernetes Secret volume lays them out (files
 * that are symlinks into a ..data directory that a renewal swaps in one rename): the agent serves
 * the given certificate, and after the swap serves the new one without a restart, and its tlsPin
 * health detail follows.
 */
class PemCertificateReloadTest {

	static FaultRig rig;

	static AgentProcess agent;

	@TempDir
	static Path secret;

	static Path serverKey;

	@BeforeAll
	static void startAgent() throws Exception {
		rig = new FaultRig(AnvilNode.startDefault());
		Path first = certificate("..2026_12_03_first");
		Files.createSymbolicLink(secret.resolve("..data"), first.getFileName());
		Files.createSymbolicLink(secret.resolve("tls.crt"), Path.of("..data/tls.crt"));
		Files.createSymbolicLink(secret.resolve("tls.key"), Path.of("..data/tls.key"));
		Map<String, String> env = rig.environment(false);
		env.remove("GPUFLOW_TLS");
		env.put("GPUFLOW_TLS_CERT_FILE", secret.resolve("tls.crt").toString());
		env.put("GPUFLOW_TLS_KEY_FILE", secret.resolve("tls.key").toString());
		env.put("GPUFLOW_TLS_PIN_CHECK_MS", "300");
		env.put("SPRING_SSL_BUNDLE_WATCH_FILE_QUIET_PERIOD", "200ms");
		serverKey = Path.of(env.get("WG_PRIVATE_KEY_FILE"));
		agent = rig.agent(env).start();
	}

	@AfterAll
	static void stop() {
		if (rig != null) {
			rig.close();
		}
	}

	@Test
	void theGivenCertificateIsServedAndARenewalIsServedWithoutARestart() throws Exception {
		String firstPin = pin(secret.resolve("tls.crt"));
		assertThat(curl(firstPin)).as("the given certificate is served").isZero();
		assertThat(serverKey.resolveSibling("tls.crt")).as("no self-signed certificate beside the server key")
			.doesNotExist();
		Eventually.await(Duration.ofSeconds(20), "the health detail shows the first pin",
				() -> health().contains("\"curlPin\":\"" + firstPin + "\""));

		Path second = certificate("..2026_12_04_second");
		Path swap = secret.resolve("..data_tmp");
		Files.createSymbolicLink(swap, second.getFileName());
		Files.move(swap, secret.resolve("..data"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
		String secondPin = pin(secret.resolve("tls.crt"));
		assertThat(secondPin).isNotEqualTo(firstPin);

		long pid = agent.pid();
		Eventually.await(Duration.ofSeconds(60), "the renewed certificate is served", () -> curl(secondPin) == 0);
		assertThat(curl(firstPin)).as("the old key is no longer served").isEqualTo(90);
		assertThat(agent.pid()).as("no restart").isEqualTo(pid);
		Eventually.await(Duration.ofSeconds(20), "the health detail follows the new pin",
				() -> health().contains("\"curlPin\":\"" + secondPin + "\""));
	}

	/** A new key pair and self-signed certificate for 127.0.0.1 in its own directory of the secret. */
	private static Path certificate(String name) throws Exception {
		Path directory = Files.createDirectory(secret.resolve(name));
		Process openssl = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
				"ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=gpuflow-test", "-addext",
				"subjectAltName=IP:127.0.0.1", "-keyout", directory.resolve("tls.key").toString(), "-out",
				directory.resolve("tls.crt").toString())
			.redirectErrorStream(true)
			.start();
		String output = new String(openssl.getInputStream().readAllBytes());
		assertThat(openssl.waitFor()).as(output).isZero();
		return directory;
	}

	private static String pin(Path certificate) throws Exception {
		Process openssl = new ProcessBuilder("bash", "-c", "openssl x509 -in '" + certificate
				+ "' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64")
			.start();
		String pin = new String(openssl.getInputStream().readAllBytes()).trim();
		assertThat(openssl.waitFor()).isZero();
		return "sha256//" + pin;
	}

	/** curl's exit code for a pinned request to the agent (0 served, 90 another key). */
	private static int curl(String pin) {
		try {
			Process curl = new ProcessBuilder(List.of("curl", "-sS", "-o", "/dev/null", "--max-time", "10", "-k",
					"--pinnedpubkey", pin, agent.baseUrl() + "/healthz"))
				.redirectErrorStream(true)
				.start();
			curl.getInputStream().readAllBytes();
			return curl.waitFor();
		}
		catch (Exception e) {
			throw new IllegalStateException(e);
		}
	}

	private static String health() {
		try {
			// Health with details lives on the management port, plain HTTP.
			Process curl = new ProcessBuilder(List.of("curl", "-s", "--max-time", "10", agent.managementUrl() + "/actuator/health"))
				.start();
			String body = new String(curl.getInputStream().readAllBytes());
			curl.waitFor();
			return body;
		}
		catch (Exception e) {
			throw new IllegalStateException(e);
		}
	}

}
