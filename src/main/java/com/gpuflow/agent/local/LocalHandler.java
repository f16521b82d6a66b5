package com.gpuflow.agent.local;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;

import com.gpuflow.agent.audit.AuditToken;
import com.gpuflow.agent.config.TrustedProxies;
import com.gpuflow.agent.rental.SessionDirectory;
import com.gpuflow.agent.rental.SshKeys;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

import org.springframework.dao.DataAccessException;
import org.springframework.http.CacheControl;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.transaction.TransactionException;
import org.springframework.web.reactive.function.server.HandlerFunction;
import org.springframework.web.reactive.function.server.ServerRequest;
import org.springframework.web.reactive.function.server.ServerResponse;

/**
 * The local routes' HTTP edge. Who-is and forward-auth answer on the event loop from the
 * {@link WhoisCache} when it is current (no thread hop, no query); loading it, the {@code at} form
 * and the authorized keys run on the blocking scheduler.
 */
final class LocalHandler {

	private static final Logger log = LoggerFactory.getLogger(LocalHandler.class);

	static final String RENTAL_ID = "X-Gpuflow-Rental-Id";

	static final String RENTER = "X-Gpuflow-Renter";

	static final String ENDS_AT = "X-Gpuflow-Ends-At";

	// POSIX portable user names, as sshd's %u may pass them (also with a trailing $ for machine accounts).
	private static final Pattern USER = Pattern.compile("[A-Za-z_][A-Za-z0-9_.-]{0,31}\\$?");

	private static final MediaType TEXT_UTF8 = new MediaType(MediaType.TEXT_PLAIN, StandardCharsets.UTF_8);

	private final WhoisCache whois;

	private final SessionDirectory directory;

	private final SshKeys sshKeys;

	private final TrustedProxies trustedProxies;

	private final Clock clock;

	private final Optional<AuditToken> token;

	LocalHandler(WhoisCache whois, SessionDirectory directory, SshKeys sshKeys, TrustedProxies trustedProxies,
			Clock clock, Optional<AuditToken> token) {
		this.whois = whois;
		this.directory = directory;
		this.sshKeys = sshKeys;
		this.trustedProxies = trustedProxies;
		this.clock = clock;
		this.token = token;
	}

	/** The audit token when the management address is not loopback; every refusal a 4xx, never a 5xx. */
	Mono<ServerResponse> guard(ServerRequest request, HandlerFunction<ServerResponse> next) {
		if (token.isPresent() && !token.get().accepts(request.headers().firstHeader(HttpHeaders.AUTHORIZATION))) {
			return problem(HttpStatus.UNAUTHORIZED, "unauthorized",
					"the management address is not loopback, so the local routes need Authorization: Bearer <AUDIT_TOKEN>");
		}
		return Mono.defer(() -> {
			try {
				return next.handle(request);
			}
			catch (Problem e) {
				return Mono.error(e);
			}
		})
			.onErrorResume(Problem.class, e -> problem(e.status, e.code, e.getMessage()))
			.onErrorResume(e -> e instanceof DataAccessException || e instanceof TransactionException, e -> {
				log.warn("Local route failed: database unavailable ({})", e.getClass().getSimpleName());
				return problem(HttpStatus.SERVICE_UNAVAILABLE, "unavailable", "the agent's database is unavailable; try again");
			});
	}

	/** {@code GET /v1/local/whois?ip=…[&at=…]}. */
	Mono<ServerResponse> whois(ServerRequest request) {
		String ip = address(single(request, "ip").orElseThrow(() -> invalid("ip", "is required, for example ?ip=10.77.0.5")));
		Optional<String> at = single(request, "at");
		Instant now = clock.instant();
		if (at.isPresent()) {
			Instant when = time(at.get());
			return offLoop(() -> directory.holderAt(ip, when).map(holder -> WhoisCache.json(holder, now)))
				.flatMap(found -> found.map(LocalHandler::json).orElseGet(() -> notHeld(ip)));
		}
		Optional<WhoisCache.Snapshot> current = whois.current();
		if (current.isPresent()) {
			return whoisAnswer(current.get(), ip, now);
		}
		return offLoop(whois::load).flatMap(snapshot -> whoisAnswer(snapshot, ip, now));
	}

	private static Mono<ServerResponse> whoisAnswer(WhoisCache.Snapshot snapshot, String ip, Instant now) {
		return snapshot.find(ip).map(entry -> json(WhoisCache.body(entry, now))).orElseGet(() -> notHeld(ip));
	}

	/**
	 * {@code GET /v1/local/forward-auth}: 200 with the holder's headers when the client's address
	 * belongs to an ACTIVE session, else 403. The client is the first {@code X-Forwarded-For} entry
	 * (else {@code X-Real-IP}) only when the caller is a trusted proxy; anyone else is judged by the
	 * address it connects from, whatever it claims.
	 */
	Mono<ServerResponse> forwardAuth(ServerRequest request) {
		Optional<String> client = client(request);
		if (client.isEmpty()) {
			return forbidden("the client address is not an IP address");
		}
		Instant now = clock.instant();
		Optional<WhoisCache.Snapshot> current = whois.current();
		if (current.isPresent()) {
			return decide(current.get(), client.get(), now);
		}
		return offLoop(whois::load).flatMap(snapshot -> decide(snapshot, client.get(), now));
	}

	private static Mono<ServerResponse> decide(WhoisCache.Snapshot snapshot, String client, Instant now) {
		Optional<SessionDirectory.Holder> holder = snapshot.find(client)
			.map(WhoisCache.Entry::holder)
			.filter(h -> h.activeAt(now));
		if (holder.isEmpty()) {
			return forbidden("no active rental holds " + client);
		}
		SessionDirectory.Holder h = holder.get();
		return ServerResponse.ok()
			.cacheControl(CacheControl.noStore())
			.header(RENTAL_ID, h.rentalId().toString())
			.header(RENTER, h.renter())
			.header(ENDS_AT, LocalRoutes.iso(h.endsAt()))
			.build();
	}

	Optional<String> client(ServerRequest request) {
		Optional<InetAddress> caller = request.remoteAddress().map(InetSocketAddress::getAddress);
		if (caller.isEmpty()) {
			return Optional.empty();
		}
		if (trustedProxies.trusts(caller.get())) {
			List<String> forwardedFor = request.headers().header("X-Forwarded-For");
			if (!forwardedFor.isEmpty()) {
				String first = forwardedFor.get(0).split(",", 2)[0].strip();
				return TrustedProxies.canonical(first);
			}
			String realIp = request.headers().firstHeader("X-Real-IP");
			if (realIp != null) {
				return TrustedProxies.canonical(realIp.strip());
			}
		}
		return TrustedProxies.canonical(caller.get().getHostAddress());
	}

	/** {@code GET /v1/local/ssh/authorized-keys?user=…}: authorized_keys lines of every active session. */
	Mono<ServerResponse> authorizedKeys(ServerRequest request) {
		String user = single(request, "user").orElseThrow(() -> invalid("user", "is required (sshd's %u)"));
		if (!USER.matcher(user).matches()) {
			throw invalid("user", "is not a user name");
		}
		Instant now = clock.instant();
		return offLoop(() -> {
			StringBuilder out = new StringBuilder();
			for (SshKeys.Authorized key : sshKeys.activeKeys(now)) {
				// Only values the agent made or re-encoded reach this text: an address from the lease,
				// the key re-encoded from its parsed blob, the rental id.
				out.append("from=\"").append(key.tunnelIp()).append("\" ").append(key.key().text())
					.append(" gpuflow-rental-").append(key.rentalId()).append('\n');
			}
			return out.toString().getBytes(StandardCharsets.UTF_8);
		}).flatMap(bytes -> ServerResponse.ok().contentType(TEXT_UTF8).cacheControl(CacheControl.noStore()).bodyValue(bytes));
	}

	private static Mono<ServerResponse> json(byte[] body) {
		return ServerResponse.ok().contentType(MediaType.APPLICATION_JSON).cacheControl(CacheControl.noStore()).bodyValue(body);
	}

	private static Mono<ServerResponse> notHeld(String ip) {
		return problem(HttpStatus.NOT_FOUND, "not_found", "no session holds " + ip);
	}

	private static Mono<ServerResponse> forbidden(String message) {
		return problem(HttpStatus.FORBIDDEN, "forbidden", message);
	}

	private static Mono<ServerResponse> problem(HttpStatus status, String code, String message) {
		StringBuilder out = new StringBuilder(64 + message.length()).append("{\"error\":\"").append(code)
			.append("\",\"message\":\"");
		com.fasterxml.jackson.core.io.JsonStringEncoder.getInstance().quoteAsString(message, out);
		byte[] body = out.append("\"}").toString().getBytes(StandardCharsets.UTF_8);
		return ServerResponse.status(status).contentType(MediaType.APPLICATION_JSON).bodyValue(body);
	}

	private static Optional<String> single(ServerRequest request, String name) {
		List<String> values = request.queryParams().get(name);
		if (values == null || values.isEmpty()) {
			return Optional.empty();
		}
		if (values.size() > 1) {
			throw invalid(name, "is given twice");
		}
		return Optional.of(values.get(0));
	}

	private static String address(String value) {
		return TrustedProxies.canonical(value.strip())
			.orElseThrow(() -> invalid("ip", "must be an IP address such as 10.77.0.5"));
	}

	/** An ISO-8601 time with an offset, or a date (midnight UTC), between 1970 and 9999. */
	static Instant time(String value) {
		Instant instant;
		try {
			instant = value.length() == 10
					? LocalDate.parse(value, DateTimeFormatter.ISO_LOCAL_DATE).atStartOfDay().toInstant(ZoneOffset.UTC)
					: OffsetDateTime.parse(value, DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
		}
		catch (DateTimeParseException e) {
			throw invalid("at", "must be an ISO-8601 time with an offset, such as 2026-11-25T18:00:00Z");
		}
		if (instant.isBefore(Instant.EPOCH) || instant.isAfter(Instant.parse("9999-12-31T23:59:59Z"))) {
			throw invalid("at", "must lie between 1970 and 9999");
		}
		return instant.truncatedTo(ChronoUnit.MICROS);
	}

	private static <T> Mono<T> offLoop(Callable<T> work) {
		return Mono.fromCallable(work).subscribeOn(Schedulers.boundedElastic());
	}

	private static Problem invalid(String name, String message) {
		return new Problem(HttpStatus.BAD_REQUEST, "invalid_parameter", name + " " + message);
	}

	/** A refusal with the SPEC's error body; thrown inside a handler, answered by {@link #guard}. */
	static final class Problem extends RuntimeException {

		final HttpStatus status;

		final String code;

		Problem(HttpStatus status, String code, String message) {
			super(message, null, false, false);
			this.status = status;
			this.code = code;
		}

	}

}
