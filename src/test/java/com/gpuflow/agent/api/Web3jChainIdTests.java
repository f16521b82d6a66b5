package com.gpuflow.agent.api;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

class Web3jChainIdTests {

	final AtomicInteger calls = new AtomicInteger();

	volatile String answer = "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":\"0x7a69\"}";

	HttpServer node;

	URI start() throws IOException {
		node = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
		node.createContext("/", exchange -> {
			String request = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
			calls.incrementAndGet();
			String id = request.replaceAll(".*\"id\"\\s*:\\s*(\\d+).*", "$1");
			byte[] body = answer.formatted(id).getBytes(StandardCharsets.UTF_8);
			exchange.getResponseHeaders().add("Content-Type", "application/json");
			exchange.sendResponseHeaders(200, body.length);
			exchange.getResponseBody().write(body);
			exchange.close();
		});
		node.start();
		return URI.create("http://127.0.0.1:" + node.getAddress().getPort());
	}

	@AfterEach
	void stop() {
		if (node != null) {
			node.stop(0);
		}
	}

	@Test
	void asksTheNodeOnceAndKeepsTheAnswer() throws Exception {
		Web3jChainId chainId = new Web3jChainId(start());
		assertThat(chainId.chainId()).isEqualTo(31337);
		assertThat(chainId.chainId()).isEqualTo(31337);
		assertThat(calls).hasValue(1);
	}

	@Test
	void aFailureIsNotKeptSoTheNextUseAsksAgain() throws Exception {
		answer = "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":-32000,\"message\":\"busy\"}}";
		Web3jChainId chainId = new Web3jChainId(start());
		assertThatExceptionOfType(ChainIdSource.ChainUnavailableException.class).isThrownBy(chainId::chainId);
		answer = "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":\"0x1\"}";
		assertThat(chainId.chainId()).isEqualTo(1);
		assertThat(calls).hasValue(2);
	}

	@Test
	void anUnreachableNodeIsReportedAsUnavailable() {
		Web3jChainId chainId = new Web3jChainId(URI.create("http://127.0.0.1:9"));
		assertThatExceptionOfType(ChainIdSource.ChainUnavailableException.class).isThrownBy(chainId::chainId);
	}

}
