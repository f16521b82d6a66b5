package com.gpuflow.agent.audit;

import java.math.BigInteger;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;

import com.gpuflow.agent.audit.AuditRecords.Peers;
import com.gpuflow.agent.audit.AuditRecords.SessionItem;
import com.gpuflow.agent.audit.AuditRecords.SessionPage;
import com.gpuflow.agent.config.AgentSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.dao.DataAccessException;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.InvalidMediaTypeException;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.transaction.TransactionException;
import org.springframework.util.MultiValueMap;
import org.springframework.web.reactive.function.server.HandlerFunction;
import org.springframework.web.reactive.function.server.ServerRequest;
import org.springframework.web.reactive.function.server.ServerResponse;

/**
 * The auditors' and operators' routes. Every request is authenticated first, then validated; the
 * blocking JDBC work runs on the bounded-elastic scheduler, never on the event loop.
 */
@Component
class AuditHandler {

	private static final Logger log = LoggerFactory.getLogger(AuditHandler.class);

	static final MediaType TEXT_CSV = MediaType.parseMediaType("text/csv");

	static final String NEXT_CURSOR_HEADER = "X-Next-Cursor";

	private static final Pattern UINT256 = Pattern.compile("\\d{1,78}");

	private static final BigInteger UINT256_MAX = BigInteger.ONE.shiftLeft(256).subtract(BigInteger.ONE);

	private final AuditToken token;

	private final AuditReader reader;

	private final AuditChainVerifier verifier;

	private final LivePeers livePeers;

	private final PeerTraffic traffic;

	AuditHandler(AgentSettings settings, AuditReader reader, AuditChainVerifier verifier, LivePeers livePeers) {
		this(settings, reader, verifier, livePeers, publicKey -> PeerTraffic.History.NONE);
	}

	@Autowired
	AuditHandler(AgentSettings settings, AuditReader reader, AuditChainVerifier verifier, LivePeers livePeers,
			PeerTraffic traffic) {
		this.token = new AuditToken(settings.auditToken());
		this.reader = reader;
		this.verifier = verifier;
		this.livePeers = livePeers;
		this.traffic = traffic;
	}

	/** Authentication, and the one place where failures become the SPEC's error bodies. */
	Mono<ServerResponse> guard(ServerRequest request, HandlerFunction<ServerResponse> next) {
		return Mono.defer(() -> {
			token.check(request.headers().firstHeader(HttpHeaders.AUTHORIZATION));
			return next.handle(request);
		})
			.onErrorResume(ApiProblem.class, AuditHandler::problem)
			// A transaction that cannot begin is a TransactionException, not a DataAccessException.
			.onErrorResume(e -> e instanceof DataAccessException || e instanceof TransactionException, e -> {
				log.warn("Audit route {} failed: database unavailable ({})", request.path(), e.getMessage());
				return problem(new ApiProblem(HttpStatus.SERVICE_UNAVAILABLE, "unavailable", "the database is unavailable"));
			});
	}

	Mono<ServerResponse> sessions(ServerRequest request) {
		SessionQuery query = SessionQuery.from(queryParams(request));
		boolean csv = wantsCsv(request);
		return blocking(() -> reader.sessions(query)).flatMap(page -> csv ? csv(page) : json(page));
	}

	Mono<ServerResponse> ipHistory(ServerRequest request) {
		String ip = new SessionQuery.Params(queryParams(request)).single("ip")
			.map(value -> IpAddresses.parse("ip", value))
			.orElseThrow(() -> ApiProblem.invalidParameter("ip", "is required, for example ?ip=10.77.0.5"));
		return blocking(() -> reader.ipHistory(ip)).flatMap(this::json);
	}

	Mono<ServerResponse> events(ServerRequest request) {
		String id = request.pathVariable("id");
		if (!UINT256.matcher(id).matches() || new BigInteger(id).compareTo(UINT256_MAX) > 0) {
			throw ApiProblem.badRequest("a rental id is a decimal uint256");
		}
		BigInteger rentalId = new BigInteger(id);
		return blocking(() -> reader.events(rentalId))
			.flatMap(found -> found.map(this::json)
				.orElseGet(() -> problem(new ApiProblem(HttpStatus.NOT_FOUND, "not_found",
						"no session of rental " + rentalId + " on this host"))));
	}

	/** The last hour of the session's traffic; 404 for a rental unknown here, empty buckets when its peer is not live. */
	Mono<ServerResponse> throughput(ServerRequest request) {
		BigInteger rentalId = rentalId(request);
		return blocking(() -> reader.peerKey(rentalId)).flatMap(found -> found.map(key -> {
			PeerTraffic.History history = key.map(traffic::of).orElse(PeerTraffic.History.NONE);
			return json(new AuditRecords.Throughput(AuditRecords.rentalId(rentalId), key.orElse(null),
					history.step().toSeconds(), history.buckets()
						.stream()
						.map(b -> new AuditRecords.ThroughputBucket(AuditTime.format(b.from()), b.rxBytes(), b.txBytes()))
						.toList()));
		}).orElseGet(() -> problem(new ApiProblem(HttpStatus.NOT_FOUND, "not_found",
				"no session of rental " + rentalId + " on this host"))));
	}

	/** Connection quality over the last {@code hours} (1-168, default 24). */
	Mono<ServerResponse> connections(ServerRequest request) {
		int hours = new SessionQuery.Params(queryParams(request)).single("hours").map(value -> {
			if (!value.matches("\\d{1,3}") || Integer.parseInt(value) < 1 || Integer.parseInt(value) > 168) {
				throw ApiProblem.invalidParameter("hours", "must be a whole number of hours from 1 to 168");
			}
			return Integer.parseInt(value);
		}).orElse(24);
		return blocking(() -> reader.connections(hours)).flatMap(this::json);
	}

	private static BigInteger rentalId(ServerRequest request) {
		String id = request.pathVariable("id");
		if (!UINT256.matcher(id).matches() || new BigInteger(id).compareTo(UINT256_MAX) > 0) {
			throw ApiProblem.badRequest("a rental id is a decimal uint256");
		}
		return new BigInteger(id);
	}

	Mono<ServerResponse> verify(ServerRequest request) {
		return blocking(verifier::verify).flatMap(this::json);
	}

	Mono<ServerResponse> peers(ServerRequest request) {
		return blocking(() -> new Peers(reader.peers(livePeers.peers()))).flatMap(this::json);
	}

	private static <T> Mono<T> blocking(Callable<T> work) {
		return Mono.fromCallable(work).subscribeOn(Schedulers.boundedElastic());
	}

	private Mono<ServerResponse> json(Object body) {
		return ServerResponse.ok().contentType(MediaType.APPLICATION_JSON).bodyValue(body);
	}

	private Mono<ServerResponse> csv(SessionPage page) {
		String body = Csv.of(SessionItem.COLUMNS, page.items().stream().map(SessionItem::csvFields).toList());
		ServerResponse.BodyBuilder response = ServerResponse.ok()
			.contentType(new MediaType(TEXT_CSV, java.nio.charset.StandardCharsets.UTF_8));
		if (page.nextCursor() != null) {
			// CSV has no place for the cursor: it travels in a header.
			response.header(NEXT_CURSOR_HEADER, page.nextCursor());
		}
		return response.bodyValue(body);
	}

	static Mono<ServerResponse> problem(ApiProblem problem) {
		ServerResponse.BodyBuilder response = ServerResponse.status(problem.status()).contentType(MediaType.APPLICATION_JSON);
		if (problem.status() == HttpStatus.UNAUTHORIZED) {
			response.header(HttpHeaders.WWW_AUTHENTICATE, "Bearer realm=\"gpuflow-audit\"");
		}
		return response.bodyValue(problem.body());
	}

	/** Query parameters, where a malformed percent-encoding is the client's mistake, not ours. */
	private static MultiValueMap<String, String> queryParams(ServerRequest request) {
		try {
			return request.queryParams();
		}
		catch (IllegalArgumentException e) {
			throw ApiProblem.badRequest("the query string is not valid percent-encoding");
		}
	}

	/** CSV when the client asks for text/csv at least as much as JSON; an unreadable Accept header means JSON. */
	private static boolean wantsCsv(ServerRequest request) {
		List<MediaType> accepted;
		try {
			accepted = request.headers().accept();
		}
		catch (InvalidMediaTypeException e) {
			return false;
		}
		double csv = 0;
		double json = 0;
		for (MediaType type : accepted) {
			if (type.getType().equalsIgnoreCase("text") && type.getSubtype().equalsIgnoreCase("csv")) {
				csv = Math.max(csv, type.getQualityValue());
			}
			else if (type.getType().equalsIgnoreCase("application") && type.getSubtype().equalsIgnoreCase("json")) {
				json = Math.max(json, type.getQualityValue());
			}
		}
		return csv > 0 && csv >= json;
	}

}
