package com.gpuflow.agent.api;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.gpuflow.agent.rental.SshPublicKey;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.DataAccessException;
import org.springframework.http.CacheControl;
import org.springframework.http.ContentDisposition;
import org.springframework.http.InvalidMediaTypeException;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.transaction.TransactionException;
import org.springframework.web.reactive.function.BodyExtractors;
import org.springframework.web.reactive.function.server.ServerRequest;
import org.springframework.web.reactive.function.server.ServerResponse;

/**
 * The HTTP edge of the renter routes: reads the body with a hard size limit, parses the id and the
 * JSON, hands the blocking work to {@link RenterService} on the blocking scheduler, and turns an
 * {@link ApiProblem} into the SPEC's error body. Nothing here blocks an event-loop thread.
 */
@Component
class RenterHandler {

	private static final Logger log = LoggerFactory.getLogger(RenterHandler.class);


	static final int BODY_LIMIT = 16 * 1024;

	private final RenterService service;

	private final Scheduler blocking;

	private final ObjectReader json;

	/**
	 * Connections of the pool the renter routes never take: the chain ingester, the reconciler and
	 * the operator routes always find one. Without this, 200 renters at once queued ahead of the
	 * reconciler in the pool (confirmation to peer live p99 3.5 s) and some waited out its 3 s timeout.
	 */
	static final int RESERVED_CONNECTIONS = 4;

	/** How long a renter request may queue for a database slot before it is told to retry (503). */
	static final Duration ADMISSION_WAIT = Duration.ofSeconds(10);

	private final Semaphore databaseSlots;

	RenterHandler(RenterService service, @Qualifier("renterApiScheduler") Scheduler blocking, ObjectMapper mapper,
			@Value("${spring.datasource.hikari.maximum-pool-size:16}") int poolSize) {
		this.service = service;
		this.blocking = blocking;
		this.databaseSlots = new Semaphore(Math.max(1, poolSize - RESERVED_CONNECTIONS), true);
		this.json = mapper.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
	}

	Mono<ServerResponse> rental(ServerRequest request) {
		return handle(body(request).flatMap(ignored -> {
			RentalId id = id(request);
			return offLoop(() -> service.rental(id)).flatMap(view -> {
				Map<String, Object> out = new LinkedHashMap<>();
				out.put("rentalId", view.rentalId().json());
				out.put("state", view.state());
				out.put("startsAt", Times.iso(view.startsAt()));
				out.put("endsAt", Times.iso(view.endsAt()));
				if (view.problem() != null) {
					out.put("problem", view.problem());
				}
				return ServerResponse.ok().contentType(MediaType.APPLICATION_JSON).bodyValue(out);
			});
		}));
	}

	Mono<ServerResponse> challenge(ServerRequest request) {
		// The route takes no body; one is read (and dropped) only to enforce the size limit.
		return handle(body(request).flatMap(ignored -> {
			RentalId id = id(request);
			Purpose purpose = Purpose.fromQuery(request.queryParams().get("purpose"));
			// The two-field body is written as bytes right where it is made: no codec lookup, and no
			// per-thread encoder buffers to set up on a fresh virtual thread.
			return offLoop(() -> challengeJson(service.challenge(id, purpose))).flatMap(bytes -> ServerResponse.ok()
				.contentType(MediaType.APPLICATION_JSON)
				.cacheControl(CacheControl.noStore())
				.bodyValue(bytes));
		}));
	}

	Mono<ServerResponse> config(ServerRequest request) {
		return signed(request, service::config);
	}

	Mono<ServerResponse> rekey(ServerRequest request) {
		return signed(request, service::rekey);
	}

	/**
	 * {@code PUT /v1/rentals/{id}/ssh-keys}: the body is checked whole (JSON, 1 to 8 keys, each a valid
	 * OpenSSH public key) before the rental is looked up, so garbage is a 400 in the SPEC's order.
	 */
	Mono<ServerResponse> sshKeys(ServerRequest request) {
		return handle(body(request).flatMap(bytes -> {
			RentalId id = id(request);
			requireJson(request);
			JsonNode node = object(bytes, "{\"message\", \"signature\", \"keys\": [...]}");
			RenterService.SignedRequest signed = signedRequest(node);
			List<SshPublicKey> keys = sshKeys(node.get("keys"));
			return offLoop(() -> {
				service.setSshKeys(id, signed, keys);
				return Boolean.TRUE;
			}).flatMap(done -> ServerResponse.noContent().build());
		}));
	}

	private static List<SshPublicKey> sshKeys(JsonNode keys) {
		if (keys == null || !keys.isArray()) {
			throw ApiProblem.badRequest("keys is an array of 1 to " + SshPublicKey.MAX_KEYS + " OpenSSH public keys");
		}
		if (keys.isEmpty() || keys.size() > SshPublicKey.MAX_KEYS) {
			throw ApiProblem.badRequest("keys holds 1 to " + SshPublicKey.MAX_KEYS + " keys, not " + keys.size());
		}
		List<SshPublicKey> parsed = new ArrayList<>(keys.size());
		for (int i = 0; i < keys.size(); i++) {
			JsonNode key = keys.get(i);
			if (!key.isTextual()) {
				throw ApiProblem.badRequest("key " + (i + 1) + " is not a string");
			}
			SshPublicKey one;
			try {
				one = SshPublicKey.parse(key.textValue());
			}
			catch (IllegalArgumentException e) {
				throw ApiProblem.badRequest("key " + (i + 1) + " " + e.getMessage());
			}
			int earlier = parsed.indexOf(one);
			if (earlier >= 0) {
				throw ApiProblem.badRequest("key " + (i + 1) + " repeats key " + (earlier + 1));
			}
			parsed.add(one);
		}
		return parsed;
	}

	private interface SignedAction {

		RenterService.Delivery apply(RentalId id, RenterService.SignedRequest request);

	}

	private Mono<ServerResponse> signed(ServerRequest request, SignedAction action) {
		return handle(body(request).flatMap(bytes -> {
			RentalId id = id(request);
			boolean qr = qr(request);
			requireJson(request);
			RenterService.SignedRequest signed = signedRequest(bytes);
			// The QR code is rendered off the loop too: it is CPU work of a few milliseconds.
			return offLoop(() -> {
				RenterService.Delivery delivery = action.apply(id, signed);
				return qr ? Rendered.png(delivery) : Rendered.text(delivery);
			}).flatMap(Rendered::response);
		}));
	}

	static byte[] challengeJson(RenterService.IssuedChallenge issued) {
		JsonStringEncoder encoder = JsonStringEncoder.getInstance();
		StringBuilder out = new StringBuilder(issued.message().length() + 64).append("{\"message\":\"");
		encoder.quoteAsString(issued.message(), out);
		out.append("\",\"expiresAt\":\"");
		encoder.quoteAsString(Times.iso(issued.expiresAt()), out);
		return out.append("\"}").toString().getBytes(StandardCharsets.UTF_8);
	}

	private static final MediaType TEXT_UTF8 = new MediaType(MediaType.TEXT_PLAIN, StandardCharsets.UTF_8);

	private record Rendered(RentalId id, MediaType type, String extension, byte[] bytes) {

		static Rendered text(RenterService.Delivery delivery) {
			return new Rendered(delivery.rentalId(), TEXT_UTF8, "conf", delivery.config().getBytes(StandardCharsets.UTF_8));
		}

		static Rendered png(RenterService.Delivery delivery) {
			return new Rendered(delivery.rentalId(), MediaType.IMAGE_PNG, "png", QrCode.png(delivery.config()));
		}

		Mono<ServerResponse> response() {
			ServerResponse.BodyBuilder ok = ServerResponse.ok()
				.contentType(type)
				.cacheControl(CacheControl.noStore())
				.headers(h -> h.setContentDisposition(
						ContentDisposition.attachment().filename("gpuflow-" + id + "." + extension).build()));
			return ok.bodyValue(bytes);
		}

		@Override
		public String toString() {
			return "Rendered[rental=" + id + "]";
		}

	}

	/** The whole body, at most {@link #BODY_LIMIT} bytes whether or not a length was declared. */
	private Mono<byte[]> body(ServerRequest request) {
		if (request.headers().contentLength().orElse(-1) > BODY_LIMIT) {
			return Mono.error(ApiProblem.tooLarge());
		}
		return DataBufferUtils.join(request.body(BodyExtractors.toDataBuffers()), BODY_LIMIT).map(buffer -> {
			byte[] bytes = new byte[buffer.readableByteCount()];
			buffer.read(bytes);
			DataBufferUtils.release(buffer);
			return bytes;
		})
			.defaultIfEmpty(new byte[0])
			.onErrorMap(DataBufferLimitException.class, e -> ApiProblem.tooLarge());
	}

	private static RentalId id(ServerRequest request) {
		try {
			return RentalId.parse(request.pathVariable("id"));
		}
		catch (IllegalArgumentException e) {
			throw ApiProblem.badRequest(e.getMessage());
		}
	}

	private static boolean qr(ServerRequest request) {
		if (request.queryParams().getOrDefault("format", java.util.List.of()).size() > 1) {
			throw ApiProblem.badRequest("format is given twice");
		}
		Optional<String> format = request.queryParam("format");
		if (format.isEmpty() || format.get().equals("conf")) {
			return false;
		}
		if (format.get().equals("qr")) {
			return true;
		}
		throw ApiProblem.badRequest("format is qr, conf or absent");
	}

	/** No content type is read as JSON; anything but JSON is refused with 415. */
	private static void requireJson(ServerRequest request) {
		Optional<MediaType> type;
		try {
			type = request.headers().contentType();
		}
		catch (InvalidMediaTypeException e) {
			throw ApiProblem.unsupportedMediaType();
		}
		if (type.isPresent() && !MediaType.APPLICATION_JSON.isCompatibleWith(type.get())
				&& !type.get().getSubtype().endsWith("+json")) {
			throw ApiProblem.unsupportedMediaType();
		}
	}

	private RenterService.SignedRequest signedRequest(byte[] bytes) {
		return signedRequest(object(bytes, "{\"message\", \"signature\"}"));
	}

	private JsonNode object(byte[] bytes, String shape) {
		JsonNode node;
		try {
			node = json.readTree(bytes);
		}
		catch (IOException e) {
			throw ApiProblem.badRequest("the body is not JSON");
		}
		if (node == null || !node.isObject()) {
			throw ApiProblem.badRequest("the body is a JSON object " + shape);
		}
		return node;
	}

	private static RenterService.SignedRequest signedRequest(JsonNode node) {
		JsonNode message = node.get("message");
		JsonNode signature = node.get("signature");
		if (message == null || !message.isTextual() || signature == null || !signature.isTextual()) {
			throw ApiProblem.badRequest("message and signature are both strings");
		}
		return new RenterService.SignedRequest(message.textValue(), signature.textValue());
	}

	/**
	 * Runs the route's blocking work on a virtual thread, at most pool size − {@link #RESERVED_CONNECTIONS}
	 * at once, first come first served; the rest wait here, not in the connection pool.
	 */
	private <T> Mono<T> offLoop(Callable<T> work) {
		return Mono.fromCallable(() -> {
			if (!databaseSlots.tryAcquire(ADMISSION_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
				throw ApiProblem.unavailable("unavailable", "the agent is busy; try again");
			}
			try {
				return work.call();
			}
			finally {
				databaseSlots.release();
			}
		}).subscribeOn(blocking);
	}

	private static Mono<ServerResponse> handle(Mono<ServerResponse> response) {
		return Mono.defer(() -> response)
			.onErrorResume(ApiProblem.class, RenterHandler::problem)
			// Seen under load (200 renters at once): no pooled connection within Hikari's timeout. The
			// renter can retry; it is not an internal error. A transaction that cannot begin is a
			// TransactionException rather than a DataAccessException.
			.onErrorResume(e -> e instanceof DataAccessException || e instanceof TransactionException, e -> {
				log.warn("Renter route failed: database busy or unavailable ({})", e.getClass().getSimpleName());
				return problem(ApiProblem.unavailable("unavailable", "the agent's database is busy or unavailable; try again"));
			});
	}

	static Mono<ServerResponse> problem(ApiProblem problem) {
		Map<String, String> body = new LinkedHashMap<>();
		body.put("error", problem.code());
		body.put("message", problem.getMessage());
		return ServerResponse.status(problem.status()).contentType(MediaType.APPLICATION_JSON).bodyValue(body);
	}

}
