package com.gpuflow.agent.chain;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

import com.gpuflow.agent.config.AgentSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

/**
 * Optional push of new heads from {@code CHAIN_WS_URL}: each message only wakes the poller early.
 * Subscriptions die silently with web3j's websocket service (no reconnect), so this uses the JDK
 * client, reconnects with a backoff, and is never needed for correctness: polling stays the source
 * of truth, and nothing read from the socket is trusted.
 */
@Component
class NewHeadsHint implements SmartLifecycle {

	private static final Logger log = LoggerFactory.getLogger(NewHeadsHint.class);

	private static final String SUBSCRIBE = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_subscribe\",\"params\":[\"newHeads\"]}";

	private final AgentSettings settings;

	private final ChainIngester ingester;

	private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

	private volatile boolean running;

	private volatile WebSocket socket;

	private volatile Thread worker;

	NewHeadsHint(AgentSettings settings, ChainIngester ingester) {
		this.settings = settings;
		this.ingester = ingester;
	}

	@Override
	public void start() {
		if (settings.chainWsUrl().isEmpty() || !ingester.isAutoStartup()) {
			return;
		}
		running = true;
		URI uri = settings.chainWsUrl().get();
		worker = Thread.ofVirtual().name("chain-ws-hint").start(() -> connectLoop(uri));
	}

	private void connectLoop(URI uri) {
		long backoffMillis = 500;
		while (running) {
			CompletableFuture<Void> closed = new CompletableFuture<>();
			try {
				socket = http.newWebSocketBuilder().buildAsync(uri, new Listener(closed)).get(10, TimeUnit.SECONDS);
				socket.sendText(SUBSCRIBE, true);
				log.info("Subscribed to new heads at {}://{}:{} (a wake-up hint; polling continues)", uri.getScheme(),
						uri.getHost(), uri.getPort());
				backoffMillis = 500;
				closed.get();
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
				return;
			}
			catch (Exception e) {
				log.debug("Websocket to the chain node unavailable: {}", e.toString());
			}
			if (!running) {
				return;
			}
			try {
				Thread.sleep(backoffMillis);
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
				return;
			}
			backoffMillis = Math.min(backoffMillis * 2, 30_000);
		}
	}

	private final class Listener implements WebSocket.Listener {

		private final CompletableFuture<Void> closed;

		Listener(CompletableFuture<Void> closed) {
			this.closed = closed;
		}

		@Override
		public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
			if (last) {
				ingester.wakeUp();
			}
			webSocket.request(1);
			return null;
		}

		@Override
		public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
			closed.complete(null);
			return null;
		}

		@Override
		public void onError(WebSocket webSocket, Throwable error) {
			closed.complete(null);
		}

	}

	@Override
	public void stop() {
		running = false;
		WebSocket current = socket;
		if (current != null) {
			current.abort();
		}
		Thread thread = worker;
		if (thread != null) {
			thread.interrupt();
		}
	}

	@Override
	public boolean isRunning() {
		return running;
	}

}
