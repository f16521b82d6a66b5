package com.gpuflow.agent.api;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Executors;

import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.config.InvalidSettingException;
import io.micrometer.core.instrument.MeterRegistry;
import com.gpuflow.agent.keys.LocalSecret;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

import org.springframework.boot.autoconfigure.condition.ConditionalOnExpression;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;
import org.springframework.web.reactive.function.server.RouterFunction;
import org.springframework.web.reactive.function.server.ServerResponse;

import static org.springframework.web.reactive.function.server.RequestPredicates.GET;
import static org.springframework.web.reactive.function.server.RequestPredicates.POST;
import static org.springframework.web.reactive.function.server.RequestPredicates.PUT;
import static org.springframework.web.reactive.function.server.RouterFunctions.route;

@Configuration(proxyBeanMethods = false)
class RenterApiConfiguration {

	@Bean
	RouterFunction<ServerResponse> renterRoutes(RenterHandler handler) {
		return route(GET("/v1/rentals/{id}"), handler::rental)
			.andRoute(POST("/v1/rentals/{id}/challenge"), handler::challenge)
			.andRoute(POST("/v1/rentals/{id}/config"), handler::config)
			.andRoute(POST("/v1/rentals/{id}/rekey"), handler::rekey)
			.andRoute(PUT("/v1/rentals/{id}/ssh-keys"), handler::sshKeys);
	}

	/**
	 * Where the routes' JDBC and signature work runs: one virtual thread per task, so a slow
	 * database parks cheap threads instead of an event loop or a bounded pool.
	 */
	@Bean(destroyMethod = "dispose")
	Scheduler renterApiScheduler() {
		return Schedulers.fromExecutorService(Executors.newVirtualThreadPerTaskExecutor(), "renter-api");
	}

	/** The MAC key of sign-in nonces, kept beside the server key so that open challenges survive a restart. */
	@Bean
	ChallengeNonce challengeNonce(AgentSettings settings) {
		Path file = settings.wgPrivateKeyFile().toAbsolutePath().resolveSibling("challenge.key");
		try {
			return new ChallengeNonce(LocalSecret.loadOrCreate(file, 32));
		}
		catch (IOException e) {
			throw new InvalidSettingException("WG_PRIVATE_KEY_FILE", "cannot read or create " + file + " beside it: "
					+ e.getMessage());
		}
	}

	/**
	 * The per-address limit of {@code GPUFLOW_RATE_LIMIT} POST/PUT requests per second; none at 0.
	 * With the limit off the filter is not there at all.
	 */
	@Bean
	@ConditionalOnExpression("'${gpuflow.rate-limit:20}'.trim() != '0'")
	RenterRateLimit renterRateLimit(Environment environment, AgentSettings settings, MeterRegistry meters) {
		String text = environment.getProperty("gpuflow.rate-limit", "20").trim();
		long perSecond;
		try {
			perSecond = Long.parseLong(text);
		}
		catch (NumberFormatException e) {
			perSecond = -1;
		}
		if (perSecond < 1 || perSecond > 1_000_000) {
			throw new InvalidSettingException("GPUFLOW_RATE_LIMIT", "must be a whole number of requests per second,"
					+ " 0 (off) to 1000000, was '" + text + "'");
		}
		return new RenterRateLimit(perSecond, settings.trustedProxies(), meters);
	}

	@Bean
	ChainIdSource chainIdSource(AgentSettings settings) {
		return new Web3jChainId(settings.chainRpcUrl());
	}

}
