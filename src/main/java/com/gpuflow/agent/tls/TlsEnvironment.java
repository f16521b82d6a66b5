package com.gpuflow.agent.tls;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.gpuflow.agent.config.InvalidSettingException;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.context.config.ConfigDataEnvironmentPostProcessor;
import org.springframework.boot.env.EnvironmentPostProcessor;
import org.springframework.core.Ordered;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.MapPropertySource;

/**
 * {@code GPUFLOW_TLS}: turns the renter port into HTTPS through a Spring Boot SSL bundle, before the
 * web server is made. With {@code GPUFLOW_TLS_CERT_FILE}/{@code GPUFLOW_TLS_KEY_FILE} the bundle
 * reads those PEM files and reloads them when they change (certbot or cert-manager renewals need
 * no restart); without them it reads a self-signed pair made once beside the server key. With
 * {@code off} the port stays plain HTTP. The TLS itself is Spring Boot's and Reactor Netty's.
 */
public class TlsEnvironment implements EnvironmentPostProcessor, Ordered {

	/** The SSL bundle of the renter port. */
	public static final String BUNDLE = "gpuflow-renter";

	private static final String PREFIX = "spring.ssl.bundle.pem." + BUNDLE;

	@Override
	public int getOrder() {
		// After application.yml, the environment and the command line are read.
		return ConfigDataEnvironmentPostProcessor.ORDER + 10;
	}

	/** Whether {@code GPUFLOW_TLS} asks for HTTPS: {@code auto} (the default) or {@code off}. */
	public static boolean enabled(String value) {
		String mode = value == null || value.isBlank() ? "auto" : value.trim().toLowerCase(Locale.ROOT);
		return switch (mode) {
			case "auto" -> true;
			case "off" -> false;
			default -> throw new InvalidSettingException("GPUFLOW_TLS", "must be auto or off, was '" + value + "'");
		};
	}

	@Override
	public void postProcessEnvironment(ConfigurableEnvironment environment, SpringApplication application) {
		if (!enabled(environment.getProperty("gpuflow.tls"))) {
			return;
		}
		String certificate = blankToNull(environment.getProperty("gpuflow.tls.cert-file"));
		String key = blankToNull(environment.getProperty("gpuflow.tls.key-file"));
		Map<String, Object> properties = new LinkedHashMap<>();
		if (certificate != null || key != null) {
			if (certificate == null || key == null) {
				throw new InvalidSettingException(certificate == null ? "GPUFLOW_TLS_CERT_FILE" : "GPUFLOW_TLS_KEY_FILE",
						"GPUFLOW_TLS_CERT_FILE and GPUFLOW_TLS_KEY_FILE are set together or not at all");
			}
			requireReadable(Path.of(certificate), "GPUFLOW_TLS_CERT_FILE");
			requireReadable(Path.of(key), "GPUFLOW_TLS_KEY_FILE");
			properties.put(PREFIX + ".keystore.certificate", location(Path.of(certificate)));
			properties.put(PREFIX + ".keystore.private-key", location(Path.of(key)));
			properties.put(PREFIX + ".reload-on-update", "true");
		}
		else {
			Path serverKey = Path.of(environment.getProperty("wg.private-key-file", "/var/lib/gpuflow/server.key"));
			Path directory = serverKey.toAbsolutePath().getParent();
			SelfSignedCertificate.Pair pair;
			try {
				pair = SelfSignedCertificate.loadOrCreate(directory, names(environment));
			}
			catch (IOException e) {
				throw new InvalidSettingException("GPUFLOW_TLS", "cannot read or make the self-signed certificate in "
						+ directory + " (beside WG_PRIVATE_KEY_FILE): " + e.getMessage()
						+ "; give GPUFLOW_TLS_CERT_FILE/GPUFLOW_TLS_KEY_FILE, or GPUFLOW_TLS=off behind a TLS proxy");
			}
			properties.put(PREFIX + ".keystore.certificate", location(pair.certificate()));
			properties.put(PREFIX + ".keystore.private-key", location(pair.privateKey()));
		}
		properties.put("server.ssl.bundle", BUNDLE);
		properties.put("server.ssl.enabled", "true");
		// The management server copies server.ssl unless told not to; it stays plain HTTP on loopback
		// (or the pod IP) for probes, Prometheus and the local routes.
		properties.put("management.server.ssl.enabled", "false");
		environment.getPropertySources().addFirst(new MapPropertySource("gpuflowTls", properties));
	}

	/** The names of the agent as renters dial it, for the self-signed certificate. */
	private static List<String> names(ConfigurableEnvironment environment) {
		List<String> names = new ArrayList<>();
		String publicUrl = environment.getProperty("gpuflow.public-url");
		if (publicUrl != null && !publicUrl.isBlank()) {
			try {
				names.add(URI.create(publicUrl.trim()).getHost());
			}
			catch (IllegalArgumentException ignored) {
				// AgentSettings names the bad URL at start
			}
		}
		String endpoint = environment.getProperty("wg.endpoint");
		if (endpoint != null && endpoint.lastIndexOf(':') > 0) {
			names.add(endpoint.trim().substring(0, endpoint.trim().lastIndexOf(':')));
		}
		names.add("localhost");
		return names;
	}

	private static void requireReadable(Path file, String key) {
		if (!Files.isReadable(file)) {
			throw new InvalidSettingException(key, file + " is not a readable file");
		}
	}

	private static String location(Path file) {
		return "file:" + file.toAbsolutePath();
	}

	private static String blankToNull(String value) {
		return value == null || value.isBlank() ? null : value.trim();
	}

}
