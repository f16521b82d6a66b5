package com.gpuflow.agent.management;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.annotation.Bean;
import org.springframework.core.env.Environment;
import org.springframework.http.HttpStatus;
import org.springframework.web.reactive.function.server.HandlerStrategies;
import org.springframework.web.reactive.function.server.RouterFunction;
import org.springframework.web.reactive.function.server.ServerRequest;
import org.springframework.web.reactive.function.server.ServerResponse;
import org.springframework.web.server.WebFilter;

import com.gpuflow.agent.config.InvalidSettingException;

import reactor.core.publisher.Mono;

/**
 * Bean definitions for the management server's own application context, the one Spring Boot makes
 * when {@code management.server.port} differs from {@code server.port}. Listed in
 * {@code META-INF/spring/org.springframework.boot.actuate.autoconfigure.web.ManagementContextConfiguration.imports}.
 *
 * <p>
 * Deliberately without {@code @Configuration} or {@code @ManagementContextConfiguration}: both are
 * found by the application's component scan, which would put these routes into the main context
 * and so on the renter port. Imported only through that file, this class is evaluated in the
 * management context alone.
 */
public class ManagementChildContext {

	/** Every {@link ManagementRoutes} bean of the agent, combined. */
	record Routes(RouterFunction<ServerResponse> router) {
	}

	@Bean
	Routes managementRouteSet(ObjectProvider<ManagementRoutes> routes, Environment environment) {
		refuseSharedPort(environment);
		return new Routes(routes.orderedStream()
			.map(ManagementRoutes::routes)
			.reduce(RouterFunction::and)
			.orElse(request -> Mono.empty()));
	}

	/** The management server routes through this like through any other RouterFunction bean. */
	@Bean
	RouterFunction<ServerResponse> managementRoutes(Routes routes) {
		return routes.router();
	}

	/**
	 * The management context's WebFlux finds RouterFunction beans of the main context too (bean
	 * lookups include the parent), so without this the renter and audit routes would answer here as
	 * well. Only actuator and the {@link ManagementRoutes} pass; anything else is 404.
	 */
	@Bean
	WebFilter onlyManagementRoutes(Routes routes, Environment environment) {
		String actuator = environment.getProperty("management.endpoints.web.base-path", "/actuator");
		// Made once: building the default codecs costs far more than the request it would serve
		// (who-is answered 58/s with it made per request, health 176/s).
		var readers = HandlerStrategies.withDefaults().messageReaders();
		return (exchange, chain) -> {
			String path = exchange.getRequest().getPath().pathWithinApplication().value();
			if (path.equals(actuator) || path.startsWith(actuator + "/")) {
				return chain.filter(exchange);
			}
			ServerRequest request = ServerRequest.create(exchange, readers);
			return routes.router().route(request).hasElement().flatMap(ours -> {
				if (ours) {
					return chain.filter(exchange);
				}
				exchange.getResponse().setStatusCode(HttpStatus.NOT_FOUND);
				return exchange.getResponse().setComplete();
			});
		};
	}

	/**
	 * With one port for both, Spring Boot serves actuator in the main context and would import this
	 * class there: local routes and health details would face renters. Refuse that instead.
	 */
	private static void refuseSharedPort(Environment environment) {
		String server = environment.getProperty("server.port", "8082");
		String management = environment.getProperty("management.server.port", "");
		if (management.isEmpty() || (management.equals(server) && !"0".equals(server))) {
			throw new InvalidSettingException("MANAGEMENT_PORT",
					"must differ from SERVER_PORT (" + server + "): the management port is not for renters");
		}
	}

}
