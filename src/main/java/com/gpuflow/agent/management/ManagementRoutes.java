package com.gpuflow.agent.management;

import org.springframework.web.reactive.function.server.RouterFunction;
import org.springframework.web.reactive.function.server.ServerResponse;

/**
 * Routes served only on {@code MANAGEMENT_ADDRESS:MANAGEMENT_PORT}, never on the renter port. Declare
 * a bean of this type in any package (not a {@link RouterFunction} bean: those are served on the
 * renter port); {@link ManagementChildContext} hands every such bean to the management server.
 */
@FunctionalInterface
public interface ManagementRoutes {

	RouterFunction<ServerResponse> routes();

}
