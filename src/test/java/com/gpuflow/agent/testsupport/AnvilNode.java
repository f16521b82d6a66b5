package com.gpuflow.agent.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.web3j.protocol.Web3j;
import org.web3j.protocol.http.HttpService;

/**
 * A real anvil dev chain on a free loopback port, for tests.
 *
 * <pre>
 * try (AnvilNode anvil = AnvilNode.builder().start()) {
 *     RentalMarketClient market = RentalMarketClient.deploy(anvil);
 *     ...
 * }
 * </pre>
 *
 * Automine (a block per transaction) is the default; {@link Builder#blockTime(Duration)} mines on
 * a timer instead and {@link Builder#noMining()} only on {@link #mine(int)}. With
 * {@link Builder#stateFile(Path)} the chain is dumped to that file on {@link #stop()} and loaded on
 * {@link #start()}, on the same port, to simulate "the node was down for a while". anvil keeps the
 * blocks but not the historical states across such a restart, so a {@link #reorg} or
 * {@link #rollback} cannot reach below the block at which it was restarted.
 */
public final class AnvilNode implements AutoCloseable {

	private static final ObjectMapper JSON = new ObjectMapper();

	private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

	private final Builder settings;

	private final int port;

	private final HttpClient http = HttpClient.newBuilder()
		.version(HttpClient.Version.HTTP_1_1)
		.connectTimeout(Duration.ofSeconds(2))
		.build();

	private final AtomicLong ids = new AtomicLong();

	private final Path logFile;

	private final Thread shutdownHook;

	private Process process;

	private Web3j web3j;

	private AnvilNode(Builder settings) {
		this.settings = settings;
		this.port = (settings.port != 0) ? settings.port : Ports.tcp();
		try {
			this.logFile = Files.createTempFile("anvil-" + this.port + "-", ".log");
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
		// A test that dies without close() (a JVM killed by a timeout) must not leave anvil behind.
		this.shutdownHook = new Thread(this::destroyQuietly, "anvil-" + this.port + "-cleanup");
		Runtime.getRuntime().addShutdownHook(this.shutdownHook);
	}

	public static Builder builder() {
		return new Builder();
	}

	/** Starts an automining node with the defaults. */
	public static AnvilNode startDefault() {
		return builder().start();
	}

	/**
	 * Starts (or, after {@link #stop()}, restarts) the node on this node's port and waits until it
	 * answers JSON-RPC.
	 */
	public synchronized AnvilNode start() {
		if (this.process != null && this.process.isAlive()) {
			throw new IllegalStateException("anvil is already running on port " + this.port);
		}
		List<String> command = new ArrayList<>(List.of(ProjectPaths.anvil().toString(), "--host", "127.0.0.1",
				"--port", Integer.toString(this.port), "--chain-id", Long.toString(this.settings.chainId),
				"--accounts", Integer.toString(this.settings.accounts)));
		if (this.settings.blockTime != null) {
			// anvil takes whole or fractional seconds
			command.addAll(List.of("--block-time", seconds(this.settings.blockTime)));
		}
		if (this.settings.noMining) {
			command.add("--no-mining");
		}
		if (this.settings.gasLimit != null) {
			command.addAll(List.of("--gas-limit", this.settings.gasLimit.toString()));
		}
		if (this.settings.stateFile != null) {
			command.addAll(List.of("--state", this.settings.stateFile.toString()));
		}
		command.addAll(this.settings.extraArgs);
		try {
			this.process = new ProcessBuilder(command).redirectErrorStream(true)
				.redirectOutput(ProcessBuilder.Redirect.appendTo(this.logFile.toFile()))
				.start();
		}
		catch (IOException e) {
			throw new UncheckedIOException("cannot start " + command, e);
		}
		long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
		while (true) {
			if (!this.process.isAlive()) {
				throw new IllegalStateException("anvil exited with " + this.process.exitValue() + " on port " + this.port
						+ ": " + logTail());
			}
			try {
				JsonNode chainId = rpc("eth_chainId");
				if (Long.decode(chainId.asText()) == this.settings.chainId) {
					break;
				}
			}
			catch (RuntimeException notYet) {
				// not listening yet
			}
			if (System.nanoTime() > deadline) {
				destroyQuietly();
				throw new IllegalStateException("anvil did not answer on port " + this.port + " within "
						+ START_TIMEOUT + ": " + logTail());
			}
			sleep(50);
		}
		this.web3j = Web3j.build(new HttpService(rpcUrl()));
		return this;
	}

	/**
	 * Stops the node and waits for it to exit. SIGTERM first, so that anvil writes its
	 * {@code --state} file; the same port can be started again with {@link #start()}.
	 */
	public synchronized void stop() {
		if (this.web3j != null) {
			this.web3j.shutdown();
			this.web3j = null;
		}
		if (this.process == null) {
			return;
		}
		this.process.destroy();
		try {
			if (!this.process.waitFor(15, TimeUnit.SECONDS)) {
				this.process.destroyForcibly();
				this.process.waitFor(10, TimeUnit.SECONDS);
			}
		}
		catch (InterruptedException e) {
			this.process.destroyForcibly();
			Thread.currentThread().interrupt();
		}
		this.process = null;
	}

	public boolean isRunning() {
		return this.process != null && this.process.isAlive();
	}

	@Override
	public void close() {
		stop();
		try {
			Runtime.getRuntime().removeShutdownHook(this.shutdownHook);
		}
		catch (IllegalStateException shuttingDown) {
			// the hook is running or about to run: nothing to remove
		}
		try {
			Files.deleteIfExists(this.logFile);
		}
		catch (IOException ignored) {
			// a leftover log in the temp folder is harmless
		}
	}

	public String rpcUrl() {
		return "http://127.0.0.1:" + this.port;
	}

	public String wsUrl() {
		return "ws://127.0.0.1:" + this.port;
	}

	public int port() {
		return this.port;
	}

	public long chainId() {
		return this.settings.chainId;
	}

	/** A web3j client for this node; valid until {@link #stop()}. */
	public synchronized Web3j web3j() {
		if (this.web3j == null) {
			throw new IllegalStateException("anvil is not running");
		}
		return this.web3j;
	}

	/** Mines {@code blocks} blocks at once (anvil_mine). */
	public void mine(int blocks) {
		rpc("anvil_mine", hex(blocks));
	}

	/** Moves the chain's clock forward; the next mined block carries the new time. */
	public void increaseTime(long seconds) {
		rpc("evm_increaseTime", hex(seconds));
	}

	/** Fixes the timestamp of the next mined block (unix seconds). */
	public void setNextBlockTimestamp(long unixSeconds) {
		rpc("evm_setNextBlockTimestamp", hex(unixSeconds));
	}

	public void setAutomine(boolean automine) {
		rpc("evm_setAutomine", automine);
	}

	public boolean automine() {
		return rpc("anvil_getAutomine").asBoolean();
	}

	/** True if blocks come without anyone asking: automine or a block time. */
	public boolean minesOnItsOwn() {
		return automine() || this.settings.blockTime != null;
	}

	/** A snapshot id for {@link #revert(String)}; a snapshot can be reverted to once. */
	public String snapshot() {
		return rpc("evm_snapshot").asText();
	}

	public boolean revert(String snapshotId) {
		return rpc("evm_revert", snapshotId).asBoolean();
	}

	/**
	 * Replaces the last {@code depth} blocks with as many new blocks (other hashes, same numbers),
	 * holding only {@code replacements}: the orphaned blocks' transactions are dropped, so they never
	 * get a receipt. Checked with anvil 1.7.1: params are {@code [depth, [[tx, blockOffset], ...]]},
	 * {@code tx} a transaction request object or a signed raw transaction (hex), {@code blockOffset}
	 * 0 for the first new block.
	 */
	public void reorg(int depth, List<ReorgTx> replacements) {
		ArrayNode pairs = JSON.createArrayNode();
		for (ReorgTx replacement : replacements) {
			ArrayNode pair = pairs.addArray();
			pair.add(JSON.valueToTree(replacement.tx()));
			pair.add(replacement.blockOffset());
		}
		rpc("anvil_reorg", depth, pairs);
	}

	public void reorg(int depth) {
		reorg(depth, List.of());
	}

	/** Removes the last {@code depth} blocks; the head goes back (no new blocks are mined). */
	public void rollback(int depth) {
		rpc("anvil_rollback", depth);
	}

	public long blockNumber() {
		return Long.decode(rpc("eth_blockNumber").asText());
	}

	/** The timestamp of the latest block, unix seconds. */
	public long latestTimestamp() {
		return Long.decode(block("latest").get("timestamp").asText());
	}

	/** The block as JSON-RPC returns it (without full transactions); null if unknown. */
	public JsonNode block(String tagOrHexNumber) {
		JsonNode block = rpc("eth_getBlockByNumber", tagOrHexNumber, false);
		return block.isNull() ? null : block;
	}

	public JsonNode block(long number) {
		return block(hex(number));
	}

	public String blockHash(long number) {
		JsonNode block = block(number);
		return (block != null) ? block.get("hash").asText() : null;
	}

	public void setBalance(String address, BigInteger wei) {
		rpc("anvil_setBalance", address, "0x" + wei.toString(16));
	}

	/**
	 * Calls a JSON-RPC method and returns its {@code result}.
	 * @throws RpcException if the node answers with an error
	 */
	public JsonNode rpc(String method, Object... params) {
		ObjectNode request = request(method, params);
		JsonNode response = post(request.toString());
		return resultOf(method, response);
	}

	/**
	 * Sends many calls in one HTTP request (a JSON-RPC batch) and returns their results in order;
	 * an error in any of them throws.
	 */
	public List<JsonNode> rpcBatch(List<Call> calls) {
		if (calls.isEmpty()) {
			return List.of();
		}
		ArrayNode batch = JSON.createArrayNode();
		List<Long> order = new ArrayList<>();
		for (Call call : calls) {
			ObjectNode request = request(call.method(), call.params().toArray());
			order.add(request.get("id").asLong());
			batch.add(request);
		}
		JsonNode responses = post(batch.toString());
		if (!responses.isArray()) {
			throw new RpcException(0, "batch refused: " + responses);
		}
		Map<Long, JsonNode> byId = new java.util.HashMap<>();
		responses.forEach((response) -> byId.put(response.get("id").asLong(), response));
		List<JsonNode> results = new ArrayList<>(calls.size());
		for (int i = 0; i < calls.size(); i++) {
			results.add(resultOf(calls.get(i).method(), byId.get(order.get(i))));
		}
		return results;
	}

	/** The last lines anvil wrote, for failure messages. */
	public String logTail() {
		try {
			List<String> lines = Files.readAllLines(this.logFile);
			return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
		}
		catch (IOException e) {
			return "(no log: " + e.getMessage() + ")";
		}
	}

	private ObjectNode request(String method, Object[] params) {
		ObjectNode request = JSON.createObjectNode();
		request.put("jsonrpc", "2.0");
		request.put("id", this.ids.incrementAndGet());
		request.put("method", method);
		ArrayNode array = request.putArray("params");
		for (Object param : params) {
			array.add(JSON.valueToTree(param));
		}
		return request;
	}

	private JsonNode post(String body) {
		HttpRequest request = HttpRequest.newBuilder(URI.create(rpcUrl()))
			.timeout(Duration.ofSeconds(120))
			.header("Content-Type", "application/json")
			.POST(HttpRequest.BodyPublishers.ofString(body))
			.build();
		try {
			HttpResponse<String> response = this.http.send(request, HttpResponse.BodyHandlers.ofString());
			return JSON.readTree(response.body());
		}
		catch (IOException e) {
			throw new UncheckedIOException("JSON-RPC to " + rpcUrl() + " failed", e);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(e);
		}
	}

	private static JsonNode resultOf(String method, JsonNode response) {
		if (response == null) {
			throw new RpcException(0, method + ": no response");
		}
		JsonNode error = response.get("error");
		if (error != null && !error.isNull()) {
			throw new RpcException(error.path("code").asInt(), method + ": " + error.path("message").asText(),
					error.path("data").isMissingNode() ? null : error.get("data").asText());
		}
		return response.get("result");
	}

	private void destroyQuietly() {
		Processes.killAndWait(this.process);
	}

	private static String seconds(Duration duration) {
		return (duration.toMillis() % 1000 == 0) ? Long.toString(duration.toSeconds())
				: Double.toString(duration.toMillis() / 1000.0);
	}

	public static String hex(long value) {
		return "0x" + Long.toHexString(value);
	}

	private static void sleep(long millis) {
		try {
			Thread.sleep(millis);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(e);
		}
	}

	/** One JSON-RPC call of a batch. */
	public record Call(String method, List<Object> params) {

		public static Call of(String method, Object... params) {
			return new Call(method, List.of(params));
		}

	}

	/**
	 * A transaction for a new block of {@link AnvilNode#reorg(int, List)}: {@code tx} is a request
	 * object (a map with from, to, value, data, ...) or a signed raw transaction as a hex string.
	 */
	public record ReorgTx(Object tx, int blockOffset) {

		public static ReorgTx raw(String signedHex, int blockOffset) {
			return new ReorgTx(signedHex, blockOffset);
		}

		public static ReorgTx request(Map<String, String> request, int blockOffset) {
			return new ReorgTx(request, blockOffset);
		}

	}

	/** A JSON-RPC error answer. */
	public static final class RpcException extends RuntimeException {

		private final int code;

		private final String data;

		RpcException(int code, String message) {
			this(code, message, null);
		}

		RpcException(int code, String message, String data) {
			super(message + ((data != null) ? " (data " + data + ")" : ""));
			this.code = code;
			this.data = data;
		}

		public int code() {
			return this.code;
		}

		/** The revert data of a failed call, if the node gave it. */
		public String data() {
			return this.data;
		}

	}

	/** Options of a node; {@link #start()} builds and starts it. */
	public static final class Builder {

		private long chainId = 31337;

		private Duration blockTime;

		private boolean noMining;

		private Path stateFile;

		private int port;

		private int accounts = 10;

		private Long gasLimit;

		private final List<String> extraArgs = new ArrayList<>();

		private Builder() {
		}

		public Builder chainId(long chainId) {
			this.chainId = chainId;
			return this;
		}

		/** Mines a block every {@code interval} instead of one per transaction. */
		public Builder blockTime(Duration interval) {
			this.blockTime = interval;
			return this;
		}

		/** Mines only when asked ({@link AnvilNode#mine(int)}). */
		public Builder noMining() {
			this.noMining = true;
			return this;
		}

		/** Dumped on stop, loaded on start: a restart keeps the chain. */
		public Builder stateFile(Path stateFile) {
			this.stateFile = stateFile;
			return this;
		}

		/** A fixed port; by default a free one is picked (and kept across restarts). */
		public Builder port(int port) {
			this.port = port;
			return this;
		}

		/** How many dev accounts of the default mnemonic anvil funds (default 10). */
		public Builder accounts(int accounts) {
			this.accounts = accounts;
			return this;
		}

		/** Block gas limit; raise it to fit thousands of transactions into a few blocks. */
		public Builder gasLimit(long gasLimit) {
			this.gasLimit = gasLimit;
			return this;
		}

		public Builder arg(String... args) {
			this.extraArgs.addAll(List.of(args));
			return this;
		}

		/** Builds the node without starting it. */
		public AnvilNode build() {
			return new AnvilNode(this);
		}

		public AnvilNode start() {
			AnvilNode node = build();
			try {
				return node.start();
			}
			catch (RuntimeException e) {
				node.close();
				throw e;
			}
		}

	}

}
