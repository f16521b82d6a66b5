package com.gpuflow.agent.local;

import java.net.InetAddress;
import java.time.Clock;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.util.Optional;

import com.gpuflow.agent.audit.AuditToken;
import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.config.TrustedProxies;
import com.gpuflow.agent.rental.SessionDirectory;
import com.gpuflow.agent.rental.SshKeys;

import org.springframework.boot.actuate.autoconfigure.web.ManagementContextConfiguration;
import org.springframework.boot.actuate.autoconfigure.web.ManagementContextType;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Condition;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.Conditional;
import org.springframework.core.env.Environment;
import org.springframework.core.type.AnnotatedTypeMetadata;
import org.springframework.web.reactive.function.server.RouterFunction;
import org.springframework.web.reactive.function.server.RouterFunctions;
import org.springframework.web.reactive.function.server.ServerResponse;

/**
 * The local routes {@code /v1/local/*} for services on the host (who-is, forward-auth, SSH
 * authorized keys), served only by the management server ({@code MANAGEMENT_ADDRESS:MANAGEMENT_PORT},
 * loopback by default), never on the renter port. Registered as a child management context
 * configuration, so it exists only when the management server runs on a port of its own.
 * When the management address is not loopback, every local route needs the audit token.
 */
@ManagementContextConfiguration(value = ManagementContextType.CHILD, proxyBeanMethods = false)
@Conditional(LocalRoutes.InChildContext.class)
class LocalRoutes {

	@Bean
	RouterFunction<ServerResponse> localRouter(WhoisCache whois, SessionDirectory directory, SshKeys sshKeys,
			AgentSettings settings, Clock clock, Environment environment) {
		boolean tokenRequired = !loopback(environment.getProperty("management.server.address"));
		LocalHandler handler = new LocalHandler(whois, directory, sshKeys, settings.trustedProxies(), clock,
				tokenRequired ? Optional.of(new AuditToken(settings.auditToken())) : Optional.empty());
		return RouterFunctions.route()
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
			catch (java.net.UnknownHostException e) {
				return false;
			}
		}).orElse(false);
	}

	static String iso(Instant instant) {
		return instant == null ? null : DateTimeFormatter.ISO_INSTANT.format(instant);
	}

	/**
	 * The application's component scan also finds this class (it is a {@code @Configuration}); the
	 * routes must exist only in the management server's child context, the one context that has a
	 * parent, so that they are never served on the renter port.
	 */
	static final class InChildContext implements Condition {

		@Override
		public boolean matches(ConditionContext context, AnnotatedTypeMetadata metadata) {
			return context.getBeanFactory() != null && context.getBeanFactory().getParentBeanFactory() != null;
		}

	}

}
