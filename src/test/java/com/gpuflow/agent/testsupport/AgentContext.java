package com.gpuflow.agent.testsupport;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import com.gpuflow.agent.GpuflowAgentApplication;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.jdbc.core.simple.JdbcClient;

/**
 * The whole agent in this JVM, started and stopped by the test (for restarts), against a real
 * database and chain. Properties use Spring's names of the SPEC's keys.
 */
public final class AgentContext implements AutoCloseable {

	private final ConfigurableApplicationContext context;

	private AgentContext(ConfigurableApplicationContext context) {
		this.context = context;
	}

	public static Map<String, Object> properties(TestDatabase.Connection database, AnvilNode chain, String contract,
			String hostId) {
		Map<String, Object> properties = new HashMap<>();
		properties.put("spring.datasource.url", database.url());
		properties.put("spring.datasource.username", database.username());
		properties.put("spring.datasource.password", database.password());
		properties.put("chain.rpc-url", chain.rpcUrl());
		properties.put("rental-contract", contract);
		properties.put("host-id", hostId);
		properties.put("wg.endpoint", "127.0.0.1:51820");
		properties.put("chain.confirmations", "0");
		properties.put("chain.poll-interval", "100ms");
		properties.put("server.port", "0");
		// A free port of its own: agents of parallel tests must not meet on the default 9082.
		properties.put("management.server.port", "0");
		properties.put("gpuflow.wireguard.enabled", "false");
		properties.put("gpuflow.chain.autostart", "true");
		properties.put("gpuflow.key-encryption-key", java.util.Base64.getEncoder().encodeToString(new byte[32]));
		// Plain HTTP and no rate limit: these tests are not about TLS or limits (their own tests are).
		properties.put("gpuflow.tls", "off");
		properties.put("gpuflow.rate-limit", "0");
		return properties;
	}

	/**
	 * Adds a real wireguard-go interface to {@code properties}: its name, tunnel network, UDP port
	 * and server key file.
	 */
	public static Map<String, Object> withWireGuard(Map<String, Object> properties, String wgInterface, String cidr,
			int port, Path keyFile) {
		properties.put("gpuflow.wireguard.enabled", "true");
		properties.put("wg.interface", wgInterface);
		properties.put("wg.cidr", cidr);
		properties.put("wg.port", port);
		properties.put("wg.implementation", "userspace");
		properties.put("wg.private-key-file", keyFile.toString());
		return properties;
	}

	public static AgentContext start(Map<String, Object> properties) {
		return start(properties, null);
	}

	/** With {@code clock} (for example an {@link OffsetClock}) in place of the system clock. */
	public static AgentContext start(Map<String, Object> properties, java.time.Clock clock) {
		// As command-line arguments: they outrank application.yml (builder "properties" are mere defaults).
		String[] args = properties.entrySet()
			.stream()
			.map(e -> "--" + e.getKey() + "=" + e.getValue())
			.toArray(String[]::new);
		SpringApplicationBuilder builder = new SpringApplicationBuilder(GpuflowAgentApplication.class);
		if (clock != null) {
			builder.initializers(context -> ((org.springframework.context.support.GenericApplicationContext) context)
				.registerBean("testClock", java.time.Clock.class, () -> clock, definition -> definition.setPrimary(true)));
		}
		return new AgentContext(builder.run(args));
	}

	public <T> T bean(Class<T> type) {
		return context.getBean(type);
	}

	public JdbcClient jdbc() {
		return context.getBean(JdbcClient.class);
	}

	public int httpPort() {
		return Integer.parseInt(context.getEnvironment().getProperty("local.server.port", "0"));
	}

	/** Where actuator (health with details, Prometheus) and the local routes answer. */
	public int managementPort() {
		return Integer.parseInt(context.getEnvironment().getProperty("local.management.port", "0"));
	}

	@Override
	public void close() {
		context.close();
	}

}
