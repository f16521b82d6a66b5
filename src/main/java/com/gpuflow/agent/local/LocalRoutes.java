package com.gpuflow.agent.local;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Clock;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.util.Optional;

import com.gpuflow.agent.audit.AuditToken;
import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.config.TrustedProxies;
import com.gpuflow.agent.management.ManagementRoutes;
import com.gpuflow.agent.rental.SessionDirectory;
import com.gpuflow.agent.rental.SshKeys;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;
import org.springframework.web.reactive.function.server.RouterFunctions;

/**
 * The local routes {@code /v1/local/*} for services on the host (who-is, forward-auth, SSH
 * authorized keys). A {@link ManagementRoutes} bean: served only by the management server
 * ({@code MANAGEMENT_ADDRESS:MANAGEMENT_PORT}, loopback by default), never on the renter port.
 * When the management address is not loopback, every local route needs the audit token.
 */
@Configuration(proxyBeanMethods = false)
class LocalRoutes {

	@Bean
	ManagementRoutes localRouteSet(WhoisCache whois, SessionDirectory directory, SshKeys sshKeys, AgentSettings settings,
			Clock clock, Environment environment) {
		boolean tokenRequired = !loopback(environment.getProperty("management.server.address"));
		LocalHandler handler = new LocalHandler(whois, directory, sshKeys, settings.trustedProxies(), clock,
				tokenRequired ? Optional.of(new AuditToken(settings.auditToken())) : Optional.empty());
		return () -> RouterFunctions.route()
			.GET("/v1/local/whois", handler::whois)
			.GET("/v1/local/forward-auth", handler::forwardAuth)
			.GET("/v1/local/ssh/authorized-keys", handler::authorizedKeys)
			.filter(handler::guard)
			.build();
	}

	/**
	 * Unset means Spring's default (every address), which is not loopback; so is a name rather than
	 * an address literal: only an address that is certainly loopback spares the token.
	 */
	static boolean loopback(String address) {
		if (address == null || address.isBlank()) {
			return false;
		}
		return TrustedProxies.literal(address.strip()).map(bytes -> {
			try {
				return InetAddress.getByAddress(bytes).isLoopbackAddress();
			}
			catch (UnknownHostException e) {
				return false;
			}
		}).orElse(false);
	}

	static String iso(Instant instant) {
		return instant == null ? null : DateTimeFormatter.ISO_INSTANT.format(instant);
	}

}
