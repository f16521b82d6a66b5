package com.gpuflow.agent.local;

import java.time.Clock;
import java.util.Optional;

import com.gpuflow.agent.audit.AuditToken;
import com.gpuflow.agent.config.TrustedProxies;
import org.junit.jupiter.api.Test;

import org.springframework.test.web.reactive.server.WebTestClient;
import org.springframework.web.reactive.function.server.RouterFunctions;

import static org.assertj.core.api.Assertions.assertThat;

class LocalRoutesGuardTest {

	@Test
	void onlyACertainlyLoopbackManagementAddressSparesTheToken() {
		assertThat(LocalRoutes.loopback("127.0.0.1")).isTrue();
		assertThat(LocalRoutes.loopback("::1")).isTrue();
		assertThat(LocalRoutes.loopback("127.3.2.1")).isTrue();
		assertThat(LocalRoutes.loopback("0.0.0.0")).isFalse();
		assertThat(LocalRoutes.loopback("10.77.0.1")).isFalse();
		assertThat(LocalRoutes.loopback("localhost")).as("a name is not looked up").isFalse();
		assertThat(LocalRoutes.loopback(null)).as("unset: every address").isFalse();
	}

	@Test
	void withATokenRequiredEveryLocalRouteAnswers401WithoutIt() {
		String token = "local-routes-token-0123456789";
		LocalHandler handler = new LocalHandler(null, null, null, TrustedProxies.parse(TrustedProxies.DEFAULT),
				Clock.systemUTC(), Optional.of(new AuditToken(Optional.of(token))));
		WebTestClient client = WebTestClient.bindToRouterFunction(RouterFunctions.route()
			.GET("/v1/local/whois", handler::whois)
			.GET("/v1/local/forward-auth", handler::forwardAuth)
			.GET("/v1/local/ssh/authorized-keys", handler::authorizedKeys)
			.filter(handler::guard)
			.build()).build();
		for (String path : new String[] { "/v1/local/whois?ip=10.77.0.5", "/v1/local/forward-auth",
				"/v1/local/ssh/authorized-keys?user=root" }) {
			client.get().uri(path).exchange().expectStatus().isUnauthorized().expectBody().jsonPath("$.error").isEqualTo("unauthorized");
			client.get().uri(path).header("Authorization", "Bearer wrong-token-0123456789").exchange().expectStatus().isUnauthorized();
		}
		// With the token the request passes the guard (here: no client address, so forward-auth refuses).
		client.get().uri("/v1/local/forward-auth").header("Authorization", "Bearer " + token).exchange().expectStatus().isForbidden();
		client.get().uri("/v1/local/whois").header("Authorization", "Bearer " + token).exchange().expectStatus().isBadRequest();
	}

}
