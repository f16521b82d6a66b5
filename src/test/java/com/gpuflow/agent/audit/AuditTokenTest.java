package com.gpuflow.agent.audit;

import java.util.Optional;

import org.junit.jupiter.api.Test;

import org.springframework.http.HttpStatus;
import org.springframework.test.web.reactive.server.WebTestClient;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatNoException;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

class AuditTokenTest {

	static final String TOKEN = "s3cret-token-of-enough-length";

	@Test
	void withoutAConfiguredTokenEveryRequestIsRefusedAndTheMessageSaysWhy() {
		AuditToken token = new AuditToken(Optional.empty());
		for (String header : new String[] { null, "", "Bearer " + TOKEN, "Bearer " }) {
			ApiProblem problem = catchThrowableOfType(ApiProblem.class, () -> token.check(header));
			assertThat(problem.status()).isEqualTo(HttpStatus.UNAUTHORIZED);
			assertThat(problem.getMessage()).contains("AUDIT_TOKEN is not configured");
		}
	}

	@Test
	void onlyTheExactTokenPasses() {
		AuditToken token = new AuditToken(Optional.of(TOKEN));
		assertThatNoException().isThrownBy(() -> token.check("Bearer " + TOKEN));
		assertThatNoException().isThrownBy(() -> token.check("bearer " + TOKEN));
		assertThatNoException().isThrownBy(() -> token.check("  Bearer   " + TOKEN + "  "));
		for (String header : new String[] { null, " ", "Bearer", "Bearer ", "Basic " + TOKEN, TOKEN, "Bearer " + TOKEN + "x",
				"Bearer " + TOKEN.substring(1), "Bearer " + TOKEN.toUpperCase(), "Bearer " + TOKEN + " " + TOKEN }) {
			ApiProblem problem = catchThrowableOfType(ApiProblem.class, () -> token.check(header));
			assertThat(problem).as(String.valueOf(header)).isNotNull();
			assertThat(problem.status()).isEqualTo(HttpStatus.UNAUTHORIZED);
			assertThat(problem.getMessage()).doesNotContain(TOKEN);
		}
	}

	@Test
	void theRoutesOfAnAgentWithoutATokenAnswer401WithTheReason() {
		AuditDatabase db = AuditDatabase.create();
		var settings = AuditDatabase.settings(AuditDatabase.HOST);
		var withoutToken = new com.gpuflow.agent.config.AgentSettings(settings.hostId(), settings.rentalContract(),
				settings.chainRpcUrl(), settings.chainWsUrl(), settings.chainConfirmations(), settings.chainStartBlock(),
				settings.chainPollInterval(), settings.wgInterface(), settings.wgPort(), settings.wgCidr(),
				settings.wgEndpoint(), settings.wgImplementation(), settings.wgPrivateKeyFile(), settings.wgKeepalive(),
				settings.reconcileInterval(), settings.serverPort(), settings.publicUrl(), Optional.empty(),
				settings.keyEncryptionKey(), settings.trustedProxies());
		AuditHandler handler = new AuditHandler(withoutToken, new AuditReader(db.jdbc(), withoutToken), db.verifier(),
				java.util.List::of);
		WebTestClient client = WebTestClient.bindToRouterFunction(new AuditRoutes().auditRouter(handler,
				// never reached: without a configured token every route is refused first
				new AuditHealth(null))).build();
		for (String route : AuditRoutesTest.ROUTES) {
			client.get()
				.uri(route)
				.header("Authorization", "Bearer " + TOKEN)
				.exchange()
				.expectStatus()
				.isUnauthorized()
				.expectBody()
				.jsonPath("$.error")
				.isEqualTo("unauthorized")
				.jsonPath("$.message")
				.value(message -> assertThat((String) message).contains("AUDIT_TOKEN is not configured"));
		}
	}

}
