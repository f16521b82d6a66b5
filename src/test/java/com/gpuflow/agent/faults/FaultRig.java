package com.gpuflow.agent.faults;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.gpuflow.agent.chain.RentalMarketLogs;
import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Ports;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.RenterNamespace;
import com.gpuflow.agent.testsupport.TestDatabase;

import static org.assertj.core.api.Assertions.assertThat;

import org.springframework.util.FileSystemUtils;

/**
 * What every fault test needs: a real anvil with the RentalMarket deployed and this test's host
 * registered (1 wei per second), a fresh database, a unique WireGuard interface, agents as
 * separate processes, and the checks that compare what the agent holds with chain truth. Closing
 * it removes everything it made, by its own name or pid, also after a failure.
 */
final class FaultRig implements AutoCloseable {

	static final String AUDIT_TOKEN = "fault-suite-audit-token-" + Long.toHexString(ThreadLocalRandom.current().nextLong());

	/** Agent clock and chain clock are the same machine clock; rentals this close to their end are left out. */
	static final Duration BORDER = Duration.ofSeconds(3);

	static final ObjectMapper JSON = new ObjectMapper();

	final String host = RentalMarketClient.hostId("faults-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));

	final AnvilNode chain;

	final RentalMarketClient market;

	final TestDatabase.Connection database;

	final String wgInterface = RenterNamespace.uniqueName() + "f";

	final int subnet = ThreadLocalRandom.current().nextInt(256);

	final int wgPort = Ports.udp();

	private final Path keyDirectory;

	private final List<AutoCloseable> resources = new ArrayList<>();

	private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

	private boolean interfaceUsed;

	FaultRig(AnvilNode chain) {
		this.chain = chain;
		this.resources.add(chain);
		try {
			this.market = RentalMarketClient.deploy(chain);
			this.market.registerHost(0, this.host, BigInteger.ONE);
			this.database = TestDatabase.create();
			this.keyDirectory = Files.createTempDirectory("gpuflow-faults-key");
		}
		catch (IOException | RuntimeException e) {
			close();
			throw new IllegalStateException("cannot set up the fault rig: " + e.getMessage(), e);
		}
	}

	static boolean longForm() {
		return Boolean.getBoolean("faults.long");
	}

	/** The SPEC's settings for an agent of this rig; a test adds or overrides keys. */
	Map<String, String> environment(boolean wireguard, String cidr) {
		Map<String, String> env = new LinkedHashMap<>();
		env.put("SPRING_DATASOURCE_URL", this.database.url());
		env.put("SPRING_DATASOURCE_USERNAME", this.database.username());
		env.put("SPRING_DATASOURCE_PASSWORD", this.database.password());
		env.put("HOST_ID", this.host);
		env.put("RENTAL_CONTRACT", this.market.address());
		env.put("CHAIN_RPC_URL", this.chain.rpcUrl());
		env.put("CHAIN_CONFIRMATIONS", "0");
		env.put("CHAIN_POLL_INTERVAL", "200ms");
		env.put("WG_ENDPOINT", "127.0.0.1:" + this.wgPort);
		env.put("WG_PORT", Integer.toString(this.wgPort));
		env.put("WG_INTERFACE", this.wgInterface);
		env.put("WG_CIDR", cidr);
		env.put("WG_IMPLEMENTATION", "userspace");
		env.put("WG_PRIVATE_KEY_FILE", this.keyDirectory.resolve("server.key").toString());
		env.put("RECONCILE_INTERVAL", "2s");
		env.put("AUDIT_TOKEN", AUDIT_TOKEN);
		byte[] kek = new byte[32];
		ThreadLocalRandom.current().nextBytes(kek);
		env.put("GPUFLOW_KEY_ENCRYPTION_KEY", Base64.getEncoder().encodeToString(kek));
		env.put("GPUFLOW_WIREGUARD_ENABLED", Boolean.toString(wireguard));
		// Plain HTTP and no rate limit unless a test is about them (it overrides these).
		env.put("GPUFLOW_TLS", "off");
		env.put("GPUFLOW_RATE_LIMIT", "0");
		if (wireguard) {
			this.interfaceUsed = true;
		}
		return env;
	}

	/**
	 * The short form's streams fit a /24 (253 addresses); the long form's do not: a crash run of
	 * 1,000 rentals holds about 700 at once, and every released address rests 10 minutes before it
	 * is handed out again. There a full pool leaves rentals ACTIVE without an address
	 * ({@code pool_exhausted}), so the long form gets a /20 (4,093 renter addresses) of its own:
	 * second octet 190-209, which no other test's tunnel network uses.
	 */
	Map<String, String> environment(boolean wireguard) {
		if (longForm()) {
			return environment(wireguard, "10." + (190 + ThreadLocalRandom.current().nextInt(20)) + "."
					+ (ThreadLocalRandom.current().nextInt(16) * 16) + ".0/20");
		}
		return environment(wireguard, "10.213." + this.subnet + ".0/24");
	}

	AgentProcess agent(Map<String, String> environment) {
		return track(new AgentProcess(environment));
	}

	<T extends AutoCloseable> T track(T resource) {
		this.resources.add(resource);
		return resource;
	}

	/** A renter's own WireGuard public key as the bytes32 the contract takes. */
	static String renterKey() {
		return "0x" + HexFormat.of().formatHex(WireGuardKeys.decode32(WireGuardKeys.generate().publicKey()));
	}

	// --- the interface

	/** Live peers of the interface: public key to its allowed-ips, read with {@code wg show dump}. */
	Map<String, String> livePeers() {
		return livePeersOf(this.wgInterface);
	}

	/** Same, or empty while the interface cannot be read (deleted, being re-created). */
	Optional<Map<String, String>> livePeersIfPresent() {
		try {
			return Optional.of(livePeers());
		}
		catch (IllegalStateException e) {
			return Optional.empty();
		}
	}

	/** The pid of the wireguard-go serving this rig's interface (found by its command line). */
	Optional<Long> wireguardGoPid() {
		return wireguardGoPid(this.wgInterface);
	}

	/**
	 * Ends the wireguard-go of an interface a test's agent made (it outlives a killed agent by
	 * design), then removes what it leaves behind: for tests that run several agents of one rig.
	 */
	static void removeInterface(String wgInterface) {
		wireguardGoPid(wgInterface).flatMap(ProcessHandle::of).ifPresent(process -> {
			process.destroyForcibly();
			process.onExit().orTimeout(5, TimeUnit.SECONDS).exceptionally(timeout -> null).join();
		});
		RenterNamespace.removeAgentInterface(wgInterface);
	}

	/** Live peers of any interface: public key to its allowed-ips. */
	static Map<String, String> livePeersOf(String wgInterface) {
		RenterNamespace.Result dump = RenterNamespace.run(List.of("wg", "show", wgInterface, "dump"), Duration.ofSeconds(10));
		if (dump.exit() != 0) {
			throw new IllegalStateException("wg show " + wgInterface + " dump: " + dump.output().strip());
		}
		Map<String, String> peers = new TreeMap<>();
		List<String> lines = dump.output().lines().toList();
		for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
			String[] fields = line.split("\t");
			if (fields.length >= 4) {
				peers.put(fields[0], fields[3]);
			}
		}
		return peers;
	}

	static Optional<Long> wireguardGoPid(String wgInterface) {
		try (var entries = Files.list(Path.of("/proc"))) {
			for (Path entry : entries.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
				try {
					String commandLine = Files.readString(entry.resolve("cmdline")).replace('\0', ' ').trim();
					if (commandLine.endsWith("wireguard-go -f " + wgInterface)) {
						return Optional.of(Long.parseLong(entry.getFileName().toString()));
					}
				}
				catch (IOException gone) {
					// the process ended while we looked
				}
			}
		}
		catch (IOException e) {
			throw new IllegalStateException(e);
		}
		return Optional.empty();
	}

	// --- the database

	long count(String sql, Object... params) {
		return query(sql, rs -> {
			rs.next();
			return rs.getLong(1);
		}, params);
	}

	List<Map<String, Object>> rows(String sql, Object... params) {
		return query(sql, rs -> {
			List<Map<String, Object>> rows = new ArrayList<>();
			int columns = rs.getMetaData().getColumnCount();
			while (rs.next()) {
				Map<String, Object> row = new LinkedHashMap<>();
				for (int i = 1; i <= columns; i++) {
					row.put(rs.getMetaData().getColumnLabel(i), rs.getObject(i));
				}
				rows.add(row);
			}
			return rows;
		}, params);
	}

	interface ResultReader<T> {

		T read(ResultSet rs) throws SQLException;

	}

	<T> T query(String sql, ResultReader<T> reader, Object... params) {
		try (var connection = this.database.open(); var statement = connection.prepareStatement(sql)) {
			for (int i = 0; i < params.length; i++) {
				Object param = params[i];
				if (param instanceof BigInteger big) {
					param = new BigDecimal(big);
				}
				else if (param instanceof Long[] ids) {
					param = connection.createArrayOf("bigint", ids);
				}
				statement.setObject(i + 1, param);
			}
			try (ResultSet rs = statement.executeQuery()) {
				return reader.read(rs);
			}
		}
		catch (SQLException e) {
			throw new IllegalStateException(sql + ": " + e.getMessage(), e);
		}
	}

	/** ACTIVE sessions as the interface should show them: public key to its /32. */
	Map<String, String> wantedPeers() {
		Map<String, String> wanted = new TreeMap<>();
		for (Map<String, Object> row : rows("select peer_public_key, host(tunnel_ip) as ip from sessions "
				+ "where state = 'ACTIVE' and tunnel_ip is not null and peer_public_key is not null")) {
			wanted.put((String) row.get("peer_public_key"), row.get("ip") + "/32");
		}
		return wanted;
	}

	// --- HTTP

	JsonNode get(AgentProcess agent, String path, boolean audit) {
		// Actuator lives on the management port, everything else on the renter port.
		String base = path.startsWith("/actuator/") ? agent.managementUrl() : agent.baseUrl();
		HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30));
		if (audit) {
			request.header("Authorization", "Bearer " + AUDIT_TOKEN);
		}
		try {
			HttpResponse<String> response = this.http.send(request.build(), HttpResponse.BodyHandlers.ofString());
			// /actuator/health answers 503 with its details while a component is down.
			boolean health = path.startsWith("/actuator/health") && response.statusCode() == 503;
			if (response.statusCode() != 200 && !health) {
				throw new IllegalStateException("GET " + path + " -> " + response.statusCode() + ": " + response.body());
			}
			return JSON.readTree(response.body());
		}
		catch (IOException e) {
			throw new IllegalStateException("GET " + path + ": " + e, e);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(e);
		}
	}

	int status(AgentProcess agent, String path) {
		return agent.status(path, Duration.ofSeconds(30));
	}

	/** Prometheus text of the agent: the sum of the samples of {@code series}. */
	Optional<Double> metric(AgentProcess agent, String series) {
		return metricWhere(agent, series, "");
	}

	/** The sum of the samples of {@code series} whose labels contain {@code label}. */
	Optional<Double> metricWhere(AgentProcess agent, String series, String label) {
		try {
			String body = this.http
				.send(HttpRequest.newBuilder(URI.create(agent.managementUrl() + "/actuator/prometheus"))
					.timeout(Duration.ofSeconds(30))
					.build(), HttpResponse.BodyHandlers.ofString())
				.body();
			double sum = 0;
			boolean found = false;
			for (String line : body.lines().toList()) {
				if ((line.startsWith(series + "{") || line.startsWith(series + " ")) && line.contains(label)) {
					sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
					found = true;
				}
			}
			return found ? Optional.of(sum) : Optional.empty();
		}
		catch (IOException | RuntimeException e) {
			return Optional.empty();
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			return Optional.empty();
		}
	}

	// --- chain truth

	/** Every rental event of this host on the node's current chain, read straight from anvil. */
	ChainTruth truth() {
		JsonNode logs = this.chain.rpc("eth_getLogs", Map.of("fromBlock", "0x0", "toBlock", "latest", "address",
				this.market.address(), "topics", List.of(RentalMarketLogs.TOPICS)));
		Map<BigInteger, Rental> rentals = new LinkedHashMap<>();
		int extended = 0;
		int ended = 0;
		for (JsonNode log : logs) {
			String signature = log.get("topics").get(0).asText().toLowerCase();
			BigInteger id = new BigInteger(log.get("topics").get(1).asText().substring(2), 16);
			String data = log.get("data").asText().substring(2);
			if (signature.equals(RentalMarketLogs.CREATED_TOPIC)) {
				if (!log.get("topics").get(2).asText().equalsIgnoreCase(this.host)) {
					continue;
				}
				String renter = "0x" + log.get("topics").get(3).asText().substring(26).toLowerCase();
				long endsAt = Long.parseLong(data.substring(64, 128), 16);
				rentals.put(id, new Rental(id, renter, endsAt, null, "0x" + data.substring(128)));
			}
			else if (rentals.containsKey(id) && signature.equals(RentalMarketLogs.EXTENDED_TOPIC)) {
				rentals.put(id, rentals.get(id).withEndsAt(Long.parseLong(data, 16)));
				extended++;
			}
			else if (rentals.containsKey(id) && signature.equals(RentalMarketLogs.ENDED_TOPIC)) {
				rentals.put(id, rentals.get(id).withEndedAt(Long.parseLong(data, 16)));
				ended++;
			}
		}
		return new ChainTruth(rentals, extended, ended);
	}

	record Rental(BigInteger id, String renter, long endsAt, Long endedAt, String renterKey) {

		Rental withEndsAt(long newEnd) {
			return new Rental(this.id, this.renter, newEnd, this.endedAt, this.renterKey);
		}

		Rental withEndedAt(long at) {
			return new Rental(this.id, this.renter, this.endsAt, at, this.renterKey);
		}

		/** What the agent must say at {@code now}: over at endsAt or at RentalEnded, whichever is first. */
		String stateAt(Instant now) {
			if (this.endedAt != null && this.endedAt < this.endsAt) {
				return "ENDED";
			}
			return (now.getEpochSecond() >= this.endsAt) ? "EXPIRED" : (this.endedAt != null ? "ENDED" : "ACTIVE");
		}

		/** Too close to endsAt to tell which side of it the agent's last look was. */
		boolean nearEnd(Instant now) {
			return this.endedAt == null && Math.abs(now.getEpochSecond() - this.endsAt) <= BORDER.toSeconds();
		}

	}

	record ChainTruth(Map<BigInteger, Rental> rentals, int extended, int ended) {

		int created() {
			return this.rentals.size();
		}

		Map<String, Long> statesAt(Instant now) {
			Map<String, Long> states = new TreeMap<>();
			this.rentals.values().forEach(r -> states.merge(r.stateAt(now), 1L, Long::sum));
			return states;
		}

	}

	// --- the checks every test ends with

	/**
	 * Waits until the interface shows exactly the ACTIVE sessions, then asserts that the database
	 * and the interface match the chain: one live session per RentalCreated, every event stored
	 * once, states by endsAt and RentalEnded against the clock, a peer with its /32 for each active
	 * rental and none for the others, leases without overlap, and an intact audit chain.
	 * @return the figures of the check
	 */
	Map<String, Object> assertMatchesChain(AgentProcess agent, boolean withInterface, Duration deadline) {
		long started = System.nanoTime();
		ChainTruth truth = truth();
		// Converged: every rental has its session and the states the chain implies (the agent may still
		// be catching up right after a restart), and the interface holds exactly the ACTIVE ones.
		String last = "";
		long end = System.nanoTime() + deadline.toNanos();
		while (true) {
			Instant now = Instant.now();
			List<String> problems = stateProblems(truth, now);
			if (problems.isEmpty() && withInterface) {
				Map<String, String> wanted = wantedPeers();
				Optional<Map<String, String>> live = livePeersIfPresent();
				if (live.isEmpty() || !live.get().equals(wanted)) {
					problems.add("interface differs: live " + live.map(Map::size).orElse(-1) + " peers, wanted " + wanted.size());
				}
			}
			if (problems.isEmpty()) {
				break;
			}
			last = problems.size() + " problems, first: " + String.join("; ", problems.subList(0, Math.min(5, problems.size())));
			if (System.nanoTime() > end) {
				throw new AssertionError("the agent did not converge with the chain within " + deadline + ": " + last
						+ "\nagent log:\n" + agent.logTail(30));
			}
			AgentProcess.sleep(250);
		}
		Duration convergence = Duration.ofNanos(System.nanoTime() - started);

		// No doubles: one live session per rental, each stored event once, one created/confirmed audit row per session.
		assertThat(count("select count(*) from sessions where state <> 'REORGED_OUT'")).as("live sessions")
			.isEqualTo(truth.created());
		assertThat(count("select count(*) from (select rental_id from sessions where state <> 'REORGED_OUT' "
				+ "group by rental_id having count(*) > 1) d")).as("rentals with two live sessions").isZero();
		assertThat(count("select count(*) from chain_events where orphaned_at is null and kind = 'RentalCreated'"))
			.as("RentalCreated stored").isEqualTo(truth.created());
		assertThat(count("select count(*) from chain_events where orphaned_at is null and kind = 'RentalExtended'"))
			.as("RentalExtended stored").isEqualTo(truth.extended());
		assertThat(count("select count(*) from chain_events where orphaned_at is null and kind = 'RentalEnded'"))
			.as("RentalEnded stored").isEqualTo(truth.ended());
		assertThat(count("select count(*) from (select tx_hash, log_index from chain_events where orphaned_at is null "
				+ "group by tx_hash, log_index having count(*) > 1) d")).as("events stored twice").isZero();
		for (String kind : List.of("created", "confirmed", "ended", "expired", "key_destroyed")) {
			assertThat(count("select count(*) from (select session_id from audit_log where kind = ? "
					+ "group by session_id having count(*) > 1) d", kind)).as("sessions with two '" + kind + "' audit rows")
				.isZero();
		}
		assertThat(count("select count(*) from audit_log a join sessions s on s.id = a.session_id "
				+ "where a.kind = 'created' and s.state <> 'REORGED_OUT'")).as("'created' audit rows of live sessions")
			.isEqualTo(truth.created());
		assertThat(count("select count(*) from audit_log a join sessions s on s.id = a.session_id "
				+ "where a.kind = 'ended' and s.state <> 'REORGED_OUT'")).as("'ended' audit rows")
			.isEqualTo(count("select count(*) from sessions where state = 'ENDED'"));

		// States as the chain says (rechecked after the counts, with a fresh clock).
		Instant now = Instant.now();
		assertThat(stateProblems(truth, now)).as("sessions against chain truth").isEmpty();

		// Leases: the database refuses overlap, and nothing overlaps.
		assertThat(count("select count(*) from pg_constraint where conname = 'leases_no_overlap' and contype = 'x'"))
			.as("exclusion constraint present").isEqualTo(1);
		assertThat(count("select count(*) from leases a join leases b on a.host_id = b.host_id and a.ip = b.ip "
				+ "and a.id < b.id and a.reserved && b.reserved")).as("overlapping leases").isZero();
		assertThat(count("select count(*) from sessions s where s.state = 'ACTIVE' and not s.pool_exhausted and 1 <> "
				+ "(select count(*) from leases l where l.session_id = s.id and l.held_to is null and l.ip = s.tunnel_ip)"))
			.as("active sessions without exactly one open lease of their address").isZero();
		assertThat(count("select count(*) from leases l join sessions s on s.id = l.session_id "
				+ "where l.held_to is null and s.state <> 'ACTIVE'")).as("open leases of ended sessions").isZero();

		// A full address pool leaves rentals ACTIVE without an address and so without a peer; the
		// interface checks below would only show it as a short peer count, so name it first.
		long poolExhausted = count("select count(*) from sessions where state = 'ACTIVE' and pool_exhausted");
		assertThat(poolExhausted).as("ACTIVE sessions left without an address because the pool was full "
				+ "(sessions.pool_exhausted; the rig's WG_CIDR is too small for this test)").isZero();

		// The interface: a peer with its /32 for every active rental, none for an ended one.
		Map<String, Object> figures = new LinkedHashMap<>();
		if (withInterface) {
			Map<String, String> live = livePeers();
			Map<String, String> wanted = wantedPeers();
			assertThat(live).as("peers on " + this.wgInterface).isEqualTo(wanted);
			long activeByChain = truth.rentals().values().stream().filter(r -> r.stateAt(now).equals("ACTIVE")).count();
			long nearEnd = truth.rentals().values().stream().filter(r -> r.nearEnd(now)).count();
			assertThat((long) live.size()).as("peers vs active rentals on chain (" + nearEnd + " at their endsAt)")
				.isBetween(activeByChain - nearEnd, activeByChain + nearEnd);
			for (Map<String, Object> row : rows("select peer_public_key from sessions where state <> 'ACTIVE' "
					+ "and peer_public_key is not null")) {
				assertThat(live).as("no peer for an ended rental").doesNotContainKey((String) row.get("peer_public_key"));
			}
			figures.put("peers live", live.size());
		}

		JsonNode verify = get(agent, "/v1/audit/verify", true);
		assertThat(verify.path("ok").asBoolean()).as("audit verify: " + verify).isTrue();

		figures.put("RentalCreated on chain", truth.created());
		figures.put("RentalExtended on chain", truth.extended());
		figures.put("RentalEnded on chain", truth.ended());
		figures.put("sessions by state", truth.statesAt(now));
		figures.put("audit rows verified", verify.path("events").asLong());
		figures.put("active sessions without an address (pool full)", poolExhausted);
		figures.put("convergence after the last fault", convergence.toMillis() + " ms");
		return figures;
	}

	/** Rentals whose session is missing, doubled, or in another state or end than the chain says. */
	List<String> stateProblems(ChainTruth truth, Instant now) {
		Map<BigInteger, Map<String, Object>> sessions = new HashMap<>();
		List<String> problems = new ArrayList<>();
		for (Map<String, Object> row : rows("select rental_id, state, extract(epoch from ends_at)::bigint as ends_at "
				+ "from sessions where state <> 'REORGED_OUT'")) {
			BigInteger id = ((BigDecimal) row.get("rental_id")).toBigIntegerExact();
			if (sessions.put(id, row) != null) {
				problems.add("rental " + id + " has two live sessions");
			}
		}
		for (Rental rental : truth.rentals().values()) {
			Map<String, Object> session = sessions.remove(rental.id());
			if (session == null) {
				problems.add("rental " + rental.id() + " has no session");
				continue;
			}
			if (((Number) session.get("ends_at")).longValue() != rental.endsAt()) {
				problems.add("rental " + rental.id() + " ends at " + session.get("ends_at") + ", chain says " + rental.endsAt());
			}
			if (!rental.nearEnd(now) && !rental.stateAt(now).equals(session.get("state"))) {
				problems.add("rental " + rental.id() + " is " + session.get("state") + ", chain says " + rental.stateAt(now));
			}
		}
		sessions.keySet().forEach(id -> problems.add("session for rental " + id + " that the chain does not have"));
		return problems;
	}

	// --- output

	/** Prints a small two-column table of what a test did, for the report. */
	static void printFigures(String title, Map<String, ?> figures) {
		int width = figures.keySet().stream().mapToInt(String::length).max().orElse(10);
		StringBuilder out = new StringBuilder("\n=== " + title + (longForm() ? " (long form)" : " (short form)") + " ===\n");
		figures.forEach((key, value) -> out.append(String.format("  %-" + width + "s  %s%n", key, value)));
		System.out.print(out);
	}

	static String percentiles(List<Double> valuesMs) {
		if (valuesMs.isEmpty()) {
			return "n=0";
		}
		List<Double> sorted = valuesMs.stream().sorted().toList();
		return String.format("n=%d p50=%.0f ms p99=%.0f ms max=%.0f ms", sorted.size(), at(sorted, 0.50), at(sorted, 0.99),
				sorted.get(sorted.size() - 1));
	}

	static double at(List<Double> sorted, double quantile) {
		return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(quantile * sorted.size()) - 1));
	}

	@Override
	public void close() {
		for (int i = this.resources.size() - 1; i >= 0; i--) {
			try {
				this.resources.get(i).close();
			}
			catch (Exception e) {
				// keep cleaning up the rest
			}
		}
		if (this.interfaceUsed) {
			// wireguard-go outlives a killed agent by design; this rig started it, so it ends it.
			// The process first, then what it leaves behind (its link, socket and log).
			wireguardGoPid().flatMap(ProcessHandle::of).ifPresent(process -> {
				process.destroyForcibly();
				process.onExit().orTimeout(5, TimeUnit.SECONDS).exceptionally(timeout -> null).join();
			});
			RenterNamespace.removeAgentInterface(this.wgInterface);
		}
		if (this.keyDirectory != null) {
			try {
				// The server key and whatever the agent keeps beside it (the challenge secret, a TLS certificate).
				FileSystemUtils.deleteRecursively(this.keyDirectory);
			}
			catch (IOException ignored) {
				// temp folder
			}
		}
	}

}
