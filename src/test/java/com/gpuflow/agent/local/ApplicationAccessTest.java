package com.gpuflow.agent.local;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.DevAccounts;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.Ports;
import com.gpuflow.agent.testsupport.ProjectPaths;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.RenterNamespace;
import com.gpuflow.agent.testsupport.SshKeygen;
import com.gpuflow.agent.testsupport.TestDatabase;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.web3j.crypto.Sign;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What renters come for, through their tunnels, on real components: the agent with a wireguard-go
 * interface, anvil, PostgreSQL, Debian's OpenSSH server with the shipped AuthorizedKeysCommand and
 * nginx with {@code auth_request} to forward-auth, both on the server's tunnel address, and two
 * renters in their own network namespaces.
 */
class ApplicationAccessTest {

	static final String HOST = RentalMarketClient.hostId("applayer-host");

	static final String AUDIT_TOKEN = "applayer-audit-token-0123456789";

	final ObjectMapper json = new ObjectMapper();

	final HttpClient http = HttpClient.newHttpClient();

	final List<AutoCloseable> cleanup = new ArrayList<>();

	String wgInterface;

	<T extends AutoCloseable> T track(T resource) {
		cleanup.add(resource);
		return resource;
	}

	@AfterEach
	void cleanUp() {
		RenterNamespace.closeAllInReverse(cleanup);
		if (wgInterface != null) {
			RenterNamespace.removeAgentInterface(wgInterface);
		}
	}

	@Test
	void rentersLogInOverSshWithTheirOwnKeysThroughTheirOwnTunnelsAndReachWebUisAsThemselvesUntilTheRentalEnds()
			throws Exception {
		AnvilNode chain = track(AnvilNode.startDefault());
		RentalMarketClient market = RentalMarketClient.deploy(chain);
		market.registerHost(0, HOST, BigInteger.ONE);
		RenterNamespace alice = track(RenterNamespace.create());
		RenterNamespace bob = track(RenterNamespace.create());
		alice.routeViaHost();
		bob.routeViaHost();
		Path work = track(new TempDirectory(Files.createTempDirectory("gpuflow-applayer-"))).path();

		int subnet = ThreadLocalRandom.current().nextInt(256);
		String serverIp = "10.216." + subnet + ".1";
		int wgPort = Ports.udp();
		wgInterface = RenterNamespace.uniqueName() + "s";
		TestDatabase.Connection database = TestDatabase.create();
		Map<String, Object> properties = AgentContext.properties(database, chain, market.address(), HOST);
		AgentContext.withWireGuard(properties, wgInterface, "10.216." + subnet + ".0/24", wgPort, work.resolve("server.key"));
		properties.put("wg.endpoint", alice.hostAddress() + ":" + wgPort);
		properties.put("reconcile.interval", "1s");
		properties.put("audit-token", AUDIT_TOKEN);
		properties.put("gpuflow.trusted-proxies", "127.0.0.1/32");
		AgentContext agent = track(AgentContext.start(properties));
		String api = "http://127.0.0.1:" + agent.httpPort();
		int managementPort = agent.managementPort();
		String local = "http://127.0.0.1:" + managementPort;

		// Both renters rent with generated keys, fetch their configs and bring their tunnels up.
		BigInteger aliceRental = market.rent(1, HOST, 3_600, RentalMarketClient.ZERO_KEY).rentalId();
		BigInteger bobRental = market.rent(2, HOST, 3_600, RentalMarketClient.ZERO_KEY).rentalId();
		Eventually.await(Duration.ofSeconds(15), "both rentals active",
				() -> state(api, aliceRental).equals("ACTIVE") && state(api, bobRental).equals("ACTIVE"));
		String aliceConfig = signed(api, aliceRental, 1, "config", "POST", "/config", Map.of(), 200);
		String bobConfig = signed(api, bobRental, 2, "config", "POST", "/config", Map.of(), 200);
		String aliceIp = RenterNamespace.configValue(aliceConfig, "Address").replace("/32", "");
		String bobIp = RenterNamespace.configValue(bobConfig, "Address").replace("/32", "");
		alice.connectWithConfig(aliceConfig);
		bob.connectWithConfig(bobConfig);

		// Each sets an SSH key with an ssh-keys challenge.
		SshKeygen.KeyPair aliceKey = SshKeygen.ed25519(work, "alice");
		SshKeygen.KeyPair bobKey = SshKeygen.generate(work, "bob", "ecdsa", 256);
		signed(api, aliceRental, 1, "ssh-keys", "PUT", "/ssh-keys", Map.of("keys", List.of(aliceKey.publicKey())), 204);
		signed(api, bobRental, 2, "ssh-keys", "PUT", "/ssh-keys", Map.of("keys", List.of(bobKey.publicKey())), 204);

		Sshd sshd = track(Sshd.start(serverIp, managementPort));
		Nginx nginx = track(Nginx.start(serverIp, managementPort, track(new StandInUi()).port()));

		// Who-is names the holder of an address.
		JsonNode whois = json.readTree(get(local + "/v1/local/whois?ip=" + aliceIp, 200));
		assertThat(whois.path("rentalId").asText()).isEqualTo(aliceRental.toString());
		assertThat(whois.path("renter").asText()).isEqualTo(DevAccounts.credentials(1).getAddress().toLowerCase());
		assertThat(whois.path("state").asText()).isEqualTo("ACTIVE");

		// SSH: each renter logs in through its own tunnel with the key it set and runs a command.
		Eventually.await(Duration.ofSeconds(20), "alice logs in over SSH through her tunnel",
				() -> ssh(alice, aliceKey, sshd).output().contains("gpuflow-ssh-ok"));
		assertThat(ssh(bob, bobKey, sshd).output()).contains("gpuflow-ssh-ok");
		// Alice's private key from bob's tunnel address: from= refuses it, though bob's own key works there.
		RenterNamespace.Result stolen = ssh(bob, aliceKey, sshd);
		assertThat(stolen.exit()).as(stolen.output()).isEqualTo(255);
		assertThat(stolen.output()).contains("Permission denied").doesNotContain("gpuflow-ssh-ok");

		// Web UI behind nginx: each request reaches it as its own rental, whatever the client claims.
		assertThat(web(alice, nginx, serverIp)).isEqualTo("rental=" + aliceRental);
		assertThat(web(bob, nginx, serverIp)).isEqualTo("rental=" + bobRental);
		assertThat(web(alice, nginx, serverIp, "-H", "X-Forwarded-For: " + bobIp, "-H", "X-Gpuflow-Rental-Id: " + bobRental))
			.as("forged headers through nginx").isEqualTo("rental=" + aliceRental);

		// Forward-auth asked directly from an address that is not a trusted proxy: the forged header is ignored.
		assertThat(forwardAuthFrom("127.0.0.2", managementPort, aliceIp)).isEqualTo(403);
		assertThat(forwardAuthFrom("127.0.0.1", managementPort, aliceIp)).isEqualTo(200);

		// Alice ends her rental: her key is gone from sshd's answer and a new login fails.
		market.endRental(1, aliceRental);
		Eventually.await(Duration.ofSeconds(5), "alice's key no longer authorized",
				() -> !authorizedKeysAsSshdRunsIt(sshd).contains(aliceKey.typeAndBlob()));
		assertThat(authorizedKeysAsSshdRunsIt(sshd)).contains(bobKey.typeAndBlob())
			.contains("from=\"" + bobIp + "\" " + bobKey.typeAndBlob() + " gpuflow-rental-" + bobRental);
		assertThat(get(local + "/v1/local/ssh/authorized-keys?user=root", 200)).doesNotContain(aliceKey.typeAndBlob());
		assertThat(ssh(alice, aliceKey, sshd).exit()).isEqualTo(255);
		assertThat(ssh(bob, bobKey, sshd).output()).contains("gpuflow-ssh-ok");
		assertThat(forwardAuthFrom("127.0.0.1", managementPort, aliceIp)).isEqualTo(403);
		get(local + "/v1/local/whois?ip=" + aliceIp, 404);

		JsonNode events = json.readTree(send(HttpRequest.newBuilder(URI.create(api + "/v1/audit/sessions/" + aliceRental + "/events"))
			.header("Authorization", "Bearer " + AUDIT_TOKEN).build(), 200)).path("events");
		List<String> kinds = new ArrayList<>();
		events.forEach(e -> kinds.add(e.path("kind").asText() + " " + e.path("detail").asText()));
		assertThat(kinds).anyMatch(k -> k.startsWith("ssh_keys_set 1 key: ssh-ed25519 SHA256:"));
	}

	RenterNamespace.Result ssh(RenterNamespace renter, SshKeygen.KeyPair key, Sshd sshd) {
		return RenterNamespace.run(List.of("ip", "netns", "exec", renter.name(), "ssh", "-F", "/dev/null", "-i",
				key.privateKey().toString(), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o",
				"StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + sshd.knownHosts(), "-o",
				"GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-p", String.valueOf(sshd.port()),
				"root@" + sshd.address(), "echo gpuflow-ssh-ok"), Duration.ofSeconds(20));
	}

	/** The shipped command, run as sshd runs it: as nobody, with the user name. */
	String authorizedKeysAsSshdRunsIt(Sshd sshd) {
		RenterNamespace.Result result = RenterNamespace.run(List.of("runuser", "-u", "nobody", "--", sshd.command().toString(),
				"root", sshd.commandConfig().toString()), Duration.ofSeconds(10));
		assertThat(result.exit()).as(result.output()).isZero();
		return result.output();
	}

	String web(RenterNamespace renter, Nginx nginx, String serverIp, String... extra) {
		List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", renter.name(), "curl", "-sS", "-m", "5"));
		command.addAll(List.of(extra));
		command.add("http://" + serverIp + ":" + nginx.port() + "/lab");
		RenterNamespace.Result result = RenterNamespace.run(command, Duration.ofSeconds(10));
		assertThat(result.exit()).as(result.output()).isZero();
		return result.output().strip();
	}

	/** A forward-auth request with a forged X-Forwarded-For, sent from {@code source} by hand. */
	static int forwardAuthFrom(String source, int port, String claimed) throws IOException {
		try (Socket socket = new Socket()) {
			socket.bind(new InetSocketAddress(InetAddress.getByName(source), 0));
			socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
			socket.setSoTimeout(10_000);
			OutputStream out = socket.getOutputStream();
			out.write(("GET /v1/local/forward-auth HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: " + claimed
					+ "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
			InputStream in = socket.getInputStream();
			return Integer.parseInt(new String(in.readNBytes(12), StandardCharsets.US_ASCII).substring(9, 12));
		}
	}

	String signed(String api, BigInteger rentalId, int account, String purpose, String method, String route,
			Map<String, Object> extra, int expected) throws Exception {
		JsonNode challenge = json.readTree(send(HttpRequest.newBuilder(URI.create(api + "/v1/rentals/" + rentalId
				+ "/challenge?purpose=" + purpose)).POST(HttpRequest.BodyPublishers.noBody()).build(), 200));
		String message = challenge.path("message").asText();
		Sign.SignatureData signature = Sign.signPrefixedMessage(message.getBytes(StandardCharsets.UTF_8),
				DevAccounts.credentials(account).getEcKeyPair());
		String hex = "0x" + HexFormat.of().formatHex(signature.getR()) + HexFormat.of().formatHex(signature.getS())
				+ HexFormat.of().formatHex(signature.getV());
		Map<String, Object> body = new java.util.HashMap<>(extra);
		body.put("message", message);
		body.put("signature", hex);
		return send(HttpRequest.newBuilder(URI.create(api + "/v1/rentals/" + rentalId + route))
			.header("Content-Type", "application/json")
			.method(method, HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body)))
			.build(), expected);
	}

	String state(String api, BigInteger rentalId) {
		try {
			HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(api + "/v1/rentals/" + rentalId)).build(),
					HttpResponse.BodyHandlers.ofString());
			return response.statusCode() == 200 ? json.readTree(response.body()).path("state").asText() : "HTTP " + response.statusCode();
		}
		catch (IOException | InterruptedException e) {
			return e.toString();
		}
	}

	String get(String url, int expected) throws Exception {
		return send(HttpRequest.newBuilder(URI.create(url)).build(), expected);
	}

	String send(HttpRequest request, int expected) throws Exception {
		HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
		assertThat(response.statusCode()).as(request.uri() + ": " + response.body()).isEqualTo(expected);
		return response.body();
	}

	/** Waits until something accepts TCP connections on address:port (a server the test started). */
	static void awaitListening(String address, int port, Process process, Path log) {
		Eventually.await(Duration.ofSeconds(15), address + ":" + port + " listening", () -> {
			if (!process.isAlive()) {
				throw new IllegalStateException("exited with " + process.exitValue() + ": " + read(log));
			}
			try (Socket socket = new Socket()) {
				socket.connect(new InetSocketAddress(address, port), 500);
				return true;
			}
			catch (IOException e) {
				return false;
			}
		});
	}

	static String read(Path file) {
		try {
			return Files.exists(file) ? Files.readString(file) : "";
		}
		catch (IOException e) {
			return e.toString();
		}
	}

	static void stop(Process process) {
		process.destroy();
		try {
			if (!process.waitFor(5, TimeUnit.SECONDS)) {
				process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
			}
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
		}
	}

	record TempDirectory(Path path) implements AutoCloseable {

		@Override
		public void close() throws IOException {
			try (var files = Files.walk(path)) {
				files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
			}
		}

	}

	/**
	 * OpenSSH's sshd with a configuration of the test's own: its own host key, listening on the
	 * server's tunnel address only, keys only from the shipped AuthorizedKeysCommand run as nobody.
	 * It lives under /run: sshd refuses a command in a directory that others may write (/tmp).
	 */
	record Sshd(Process process, Path directory, String address, int port, Path knownHosts, Path command,
			Path commandConfig, boolean createdPrivsepDirectory) implements AutoCloseable {

		static Sshd start(String address, int managementPort) throws IOException {
			Path directory = Files.createTempDirectory(Path.of("/run"), "gpuflow-sshd-",
					PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
			// sshd's privilege separation directory; Debian's package makes it only when the service starts.
			Path privsep = Path.of("/run/sshd");
			boolean created = !Files.isDirectory(privsep);
			if (created) {
				Files.createDirectories(privsep);
			}
			Path command = directory.resolve("gpuflow-authorized-keys");
			Files.copy(ProjectPaths.root().resolve("src/dist/gpuflow-authorized-keys"), command, StandardCopyOption.REPLACE_EXISTING);
			Files.setPosixFilePermissions(command, PosixFilePermissions.fromString("rwxr-xr-x"));
			Path commandConfig = directory.resolve("authorized-keys.conf");
			Files.writeString(commandConfig, "GPUFLOW_MANAGEMENT_URL=http://127.0.0.1:" + managementPort + "\nGPUFLOW_TIMEOUT=3\n");
			Files.setPosixFilePermissions(commandConfig, PosixFilePermissions.fromString("rw-r--r--"));
			SshKeygen.KeyPair hostKey = SshKeygen.ed25519(directory, "host_ed25519_key");
			int port = Ports.tcp();
			Path knownHosts = directory.resolve("known_hosts");
			Files.writeString(knownHosts, "[" + address + "]:" + port + " " + hostKey.typeAndBlob() + "\n");
			Path config = directory.resolve("sshd_config");
			Files.writeString(config, String.join("\n",
					"ListenAddress " + address + ":" + port,
					"HostKey " + hostKey.privateKey(),
					"PidFile " + directory.resolve("sshd.pid"),
					"AuthorizedKeysFile none",
					"AuthorizedKeysCommand " + command + " %u " + commandConfig,
					"AuthorizedKeysCommandUser nobody",
					"PubkeyAuthentication yes",
					"PasswordAuthentication no",
					"KbdInteractiveAuthentication no",
					"PermitRootLogin prohibit-password",
					"UsePAM no",
					"LogLevel VERBOSE", ""));
			RenterNamespace.Result check = RenterNamespace.run(List.of("/usr/sbin/sshd", "-t", "-f", config.toString()),
					Duration.ofSeconds(10));
			if (check.exit() != 0) {
				throw new IllegalStateException("sshd -t: " + check.output());
			}
			Path log = directory.resolve("sshd.log");
			Process process = new ProcessBuilder("/usr/sbin/sshd", "-D", "-e", "-f", config.toString())
				.redirectErrorStream(true).redirectOutput(log.toFile()).start();
			Sshd sshd = new Sshd(process, directory, address, port, knownHosts, command, commandConfig, created);
			try {
				awaitListening(address, port, process, log);
			}
			catch (RuntimeException e) {
				sshd.close();
				throw e;
			}
			return sshd;
		}

		@Override
		public void close() throws IOException {
			stop(process);
			System.out.println("--- sshd log (last lines)\n" + read(directory.resolve("sshd.log")).lines()
				.reduce(new ArrayList<String>(), (l, s) -> { l.add(s); if (l.size() > 40) l.remove(0); return l; }, (a, b) -> a)
				.stream().reduce("", (a, b) -> a + b + "\n"));
			new TempDirectory(directory).close();
			if (createdPrivsepDirectory) {
				Files.deleteIfExists(Path.of("/run/sshd"));
			}
		}

	}

	/**
	 * nginx in front of the stand-in UI, with the README's Jupyter snippet: {@code auth_request} to
	 * forward-auth, the rental id handed on as a header. Its own prefix, config, pid and logs.
	 */
	record Nginx(Process process, Path directory, int port) implements AutoCloseable {

		static Nginx start(String address, int managementPort, int uiPort) throws IOException {
			Path directory = Files.createTempDirectory("gpuflow-nginx-",
					PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
			int port = Ports.tcp();
			String d = directory.toString();
			Path config = directory.resolve("nginx.conf");
			Files.writeString(config, """
					worker_processes 1;
					pid %1$s/nginx.pid;
					error_log %1$s/error.log info;
					events { worker_connections 64; }
					http {
					    access_log %1$s/access.log;
					    client_body_temp_path %1$s/body;
					    proxy_temp_path %1$s/proxy;
					    fastcgi_temp_path %1$s/fastcgi;
					    uwsgi_temp_path %1$s/uwsgi;
					    scgi_temp_path %1$s/scgi;
					    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
					    server {
					        listen %2$s:%3$d;
					        location = /_gpuflow_auth {
					            internal;
					            proxy_pass http://127.0.0.1:%4$d/v1/local/forward-auth;
					            proxy_pass_request_body off;
					            proxy_set_header Content-Length "";
					            proxy_set_header X-Forwarded-For $remote_addr;
					            proxy_set_header X-Real-IP $remote_addr;
					        }
					        location / {
					            auth_request /_gpuflow_auth;
					            auth_request_set $gpuflow_rental_id $upstream_http_x_gpuflow_rental_id;
					            auth_request_set $gpuflow_renter $upstream_http_x_gpuflow_renter;
					            proxy_set_header X-Gpuflow-Rental-Id $gpuflow_rental_id;
					            proxy_set_header X-Gpuflow-Renter $gpuflow_renter;
					            proxy_set_header Host $host;
					            proxy_http_version 1.1;
					            proxy_set_header Upgrade $http_upgrade;
					            proxy_set_header Connection $connection_upgrade;
					            proxy_pass http://127.0.0.1:%5$d;
					        }
					    }
					}
					""".formatted(d, address, port, managementPort, uiPort));
			Path log = directory.resolve("stderr.log");
			Process process = new ProcessBuilder("/usr/sbin/nginx", "-p", d, "-e", d + "/error.log", "-c", config.toString(),
					"-g", "daemon off;").redirectErrorStream(true).redirectOutput(log.toFile()).start();
			Nginx nginx = new Nginx(process, directory, port);
			try {
				awaitListening(address, port, process, directory.resolve("error.log"));
			}
			catch (RuntimeException e) {
				nginx.close();
				throw e;
			}
			return nginx;
		}

		@Override
		public void close() throws IOException {
			stop(process);
			new TempDirectory(directory).close();
		}

	}

	/** A web UI of the test's own (standing in for Jupyter): answers with the rental id nginx handed on. */
	static final class StandInUi implements AutoCloseable {

		private final HttpServer server;

		StandInUi() throws IOException {
			server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
			server.createContext("/", exchange -> {
				byte[] body = ("rental=" + exchange.getRequestHeaders().getFirst("X-Gpuflow-Rental-Id"))
					.getBytes(StandardCharsets.UTF_8);
				exchange.sendResponseHeaders(200, body.length);
				try (OutputStream out = exchange.getResponseBody()) {
					out.write(body);
				}
			});
			server.start();
		}

		int port() {
			return server.getAddress().getPort();
		}

		@Override
		public void close() {
			server.stop(0);
		}

	}

}
