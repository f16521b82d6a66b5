package com.gpuflow.agent.faults;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.gpuflow.agent.chain.RentalMarketLogs;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.web3j.crypto.Hash;

/**
 * A misbehaving chain node: a loopback JSON-RPC server of the test's own that forwards to anvil,
 * but for a fraction of calls answers HTTP 500, a JSON-RPC error, truncated JSON or an HTML page;
 * always refuses {@code eth_getLogs} over more than {@code maxLogRange} blocks (as hosted
 * providers do); and, when asked, adds a malformed RentalCreated log to every {@code eth_getLogs}
 * answer that holds a real log of a block whose number is divisible by 5. The added logs depend
 * only on the block, so every read of a block sees the same garbage, and {@link #injected()} is the
 * exact set the agent must record as undecodable.
 */
final class JsonRpcChaosProxy implements AutoCloseable {

	enum Fault {

		HTTP_500, RPC_ERROR, TRUNCATED, HTML, RANGE_REFUSED

	}

	private static final ObjectMapper JSON = new ObjectMapper();

	private final HttpServer server;

	private final URI target;

	private final double faultRate;

	private final int maxLogRange;

	private final String host;

	private volatile boolean injectGarbage;

	private final Random random;

	private final HttpClient http = HttpClient.newBuilder()
		.version(HttpClient.Version.HTTP_1_1)
		.connectTimeout(Duration.ofSeconds(2))
		.build();

	private final Map<Fault, AtomicLong> faults = new ConcurrentHashMap<>();

	private final AtomicLong calls = new AtomicLong();

	private final Map<String, AtomicLong> callsByMethod = new ConcurrentHashMap<>();

	private final Set<String> injected = ConcurrentHashMap.newKeySet();

	JsonRpcChaosProxy(String targetUrl, double faultRate, int maxLogRange, String host, long seed) throws IOException {
		this.target = URI.create(targetUrl);
		this.faultRate = faultRate;
		this.maxLogRange = maxLogRange;
		this.host = host;
		this.random = new Random(seed);
		this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
		this.server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
		this.server.createContext("/", this::handle);
		this.server.start();
	}

	String url() {
		return "http://127.0.0.1:" + this.server.getAddress().getPort();
	}

	void injectGarbageLogs(boolean inject) {
		this.injectGarbage = inject;
	}

	/** Transaction hashes of the malformed logs handed out so far. */
	Set<String> injected() {
		return Set.copyOf(this.injected);
	}

	long calls() {
		return this.calls.get();
	}

	/** Requests of one JSON-RPC method so far (a batch counts as "batch"). */
	long calls(String method) {
		AtomicLong count = this.callsByMethod.get(method);
		return count == null ? 0 : count.get();
	}

	Map<String, Long> faultCounts() {
		Map<String, Long> counts = new TreeMap<>();
		this.faults.forEach((fault, count) -> counts.put(fault.name(), count.get()));
		return counts;
	}

	private void handle(HttpExchange exchange) throws IOException {
		try (exchange) {
			byte[] request;
			try (InputStream in = exchange.getRequestBody()) {
				request = in.readAllBytes();
			}
			this.calls.incrementAndGet();
			JsonNode call = JSON.readTree(request);
			JsonNode id = call.isObject() ? call.get("id") : null;
			String method = call.isObject() ? call.path("method").asText() : "batch";
			this.callsByMethod.computeIfAbsent(method, m -> new AtomicLong()).incrementAndGet();
			if (method.equals("eth_getLogs") && range(call) > this.maxLogRange) {
				count(Fault.RANGE_REFUSED);
				reply(exchange, 200, rpcError(id, -32005, "query exceeds max block range " + this.maxLogRange));
				return;
			}
			Fault fault = pickFault();
			if (fault == Fault.HTTP_500) {
				reply(exchange, 500, "internal server error");
				return;
			}
			if (fault == Fault.RPC_ERROR) {
				reply(exchange, 200, rpcError(id, -32000, "header not found"));
				return;
			}
			if (fault == Fault.HTML) {
				reply(exchange, 200, "<html><body>502 Bad Gateway</body></html>");
				return;
			}
			String answer = forward(request);
			if (method.equals("eth_getLogs") && this.injectGarbage) {
				answer = withGarbage(answer);
			}
			if (fault == Fault.TRUNCATED) {
				answer = answer.substring(0, answer.length() / 2);
			}
			reply(exchange, 200, answer);
		}
		catch (IOException | RuntimeException e) {
			// The node went away or the client hung up: a dropped connection is one more fault.
		}
	}

	private synchronized Fault pickFault() {
		if (this.random.nextDouble() >= this.faultRate) {
			return null;
		}
		Fault fault = Fault.values()[this.random.nextInt(4)];
		count(fault);
		return fault;
	}

	private void count(Fault fault) {
		this.faults.computeIfAbsent(fault, f -> new AtomicLong()).incrementAndGet();
	}

	private static long range(JsonNode call) {
		JsonNode filter = call.path("params").path(0);
		String from = filter.path("fromBlock").asText("");
		String to = filter.path("toBlock").asText("");
		if (!from.startsWith("0x") || !to.startsWith("0x")) {
			return Long.MAX_VALUE;
		}
		return Long.decode(to) - Long.decode(from) + 1;
	}

	private String forward(byte[] request) throws IOException {
		try {
			return this.http
				.send(HttpRequest.newBuilder(this.target)
					.timeout(Duration.ofSeconds(30))
					.header("Content-Type", "application/json")
					.POST(HttpRequest.BodyPublishers.ofByteArray(request))
					.build(), HttpResponse.BodyHandlers.ofString())
				.body();
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IOException(e);
		}
	}

	/** Adds one malformed RentalCreated log (data of the wrong length) per qualifying block. */
	private String withGarbage(String answer) throws IOException {
		JsonNode response = JSON.readTree(answer);
		if (!(response.get("result") instanceof ArrayNode logs)) {
			return answer;
		}
		Map<Long, JsonNode> blocks = new TreeMap<>();
		for (JsonNode log : logs) {
			long number = Long.decode(log.get("blockNumber").asText());
			if (number % 5 == 0) {
				blocks.putIfAbsent(number, log);
			}
		}
		for (JsonNode real : blocks.values()) {
			String txHash = Hash.sha3String("garbage-" + real.get("blockHash").asText());
			ObjectNode garbage = JSON.createObjectNode();
			garbage.put("address", real.get("address").asText());
			ArrayNode topics = garbage.putArray("topics");
			topics.add(RentalMarketLogs.CREATED_TOPIC);
			topics.add("0x" + "00".repeat(31) + "2a");
			topics.add(this.host);
			topics.add("0x" + "00".repeat(12) + "11".repeat(20));
			garbage.put("data", "0x1234");
			garbage.put("blockNumber", real.get("blockNumber").asText());
			garbage.put("blockHash", real.get("blockHash").asText());
			garbage.put("transactionHash", txHash);
			garbage.put("transactionIndex", "0x0");
			garbage.put("logIndex", "0x7fff");
			garbage.put("removed", false);
			logs.add(garbage);
			this.injected.add(txHash);
		}
		return JSON.writeValueAsString(response);
	}

	private static String rpcError(JsonNode id, int code, String message) {
		ObjectNode error = JSON.createObjectNode();
		error.put("jsonrpc", "2.0");
		error.set("id", id);
		error.putObject("error").put("code", code).put("message", message);
		return error.toString();
	}

	private static void reply(HttpExchange exchange, int status, String body) throws IOException {
		byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
		exchange.getResponseHeaders().set("Content-Type", "application/json");
		exchange.sendResponseHeaders(status, bytes.length);
		try (OutputStream out = exchange.getResponseBody()) {
			out.write(bytes);
		}
	}

	@Override
	public void close() {
		this.server.stop(0);
	}

}
