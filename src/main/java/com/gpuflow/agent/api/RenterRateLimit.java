package com.gpuflow.agent.api;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.gpuflow.agent.config.TrustedProxies;
import io.github.bucket4j.Bandwidth;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.ConsumptionProbe;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import reactor.core.publisher.Mono;

import org.springframework.core.Ordered;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;

/**
 * {@code GPUFLOW_RATE_LIMIT}: a token bucket per client address on the renter routes that change or
 * sign something (POST, PUT), refilled at the rate per second and holding twice that. Decided first,
 * before the body is read or the database asked, so a flood from one address costs little and takes
 * no database slot another renter needs. IPv6 clients are counted per /64, which is what one
 * machine usually holds. The buckets live in a bounded cache: a bucket idle for longer than it
 * takes to refill is full again, so forgetting it changes nothing.
 */
class RenterRateLimit implements WebFilter, Ordered {

	static final int MAX_CLIENTS = 100_000;

	private static final byte[] BODY = "{\"error\":\"rate_limited\",\"message\":\"too many requests from this address; retry later\"}"
		.getBytes(StandardCharsets.UTF_8);

	private final long perSecond;

	private final TrustedProxies proxies;

	private final Cache<Client, Bucket> buckets;

	private final Counter limited;

	RenterRateLimit(long perSecond, TrustedProxies proxies, MeterRegistry meters) {
		if (perSecond <= 0) {
			throw new IllegalArgumentException("a rate limit is positive; 0 means no filter at all");
		}
		this.perSecond = perSecond;
		this.proxies = proxies;
		this.buckets = Caffeine.newBuilder().maximumSize(MAX_CLIENTS).expireAfterAccess(Duration.ofSeconds(10)).build();
		this.limited = Counter.builder("gpuflow_renter_rate_limited_total")
			.description("renter requests refused with 429 by the per-address rate limit")
			.register(meters);
	}

	@Override
	public int getOrder() {
		// Before every other filter: nothing else should spend work on a request that is refused.
		return Ordered.HIGHEST_PRECEDENCE;
	}

	@Override
	public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
		ServerHttpRequest request = exchange.getRequest();
		if (!limited(request)) {
			return chain.filter(exchange);
		}
		InetSocketAddress remote = request.getRemoteAddress();
		if (remote == null || remote.getAddress() == null) {
			return chain.filter(exchange);
		}
		InetAddress client = proxies.clientOf(remote.getAddress(), request.getHeaders().get("X-Forwarded-For"),
				request.getHeaders().getFirst("X-Real-IP"));
		Bucket bucket = buckets.get(Client.of(client), ignored -> newBucket());
		ConsumptionProbe probe = bucket.tryConsumeAndReturnRemaining(1);
		if (probe.isConsumed()) {
			return chain.filter(exchange);
		}
		limited.increment();
		long retryAfter = Math.max(1, (probe.getNanosToWaitForRefill() + 999_999_999L) / 1_000_000_000L);
		ServerHttpResponse response = exchange.getResponse();
		response.setStatusCode(HttpStatus.TOO_MANY_REQUESTS);
		response.getHeaders().setContentType(MediaType.APPLICATION_JSON);
		response.getHeaders().set(HttpHeaders.RETRY_AFTER, Long.toString(retryAfter));
		response.getHeaders().setContentLength(BODY.length);
		return response.writeWith(Mono.just(response.bufferFactory().wrap(BODY)));
	}

	private static boolean limited(ServerHttpRequest request) {
		HttpMethod method = request.getMethod();
		return (HttpMethod.POST.equals(method) || HttpMethod.PUT.equals(method))
				&& request.getPath().pathWithinApplication().value().startsWith("/v1/rentals/");
	}

	private Bucket newBucket() {
		return Bucket.builder()
			.addLimit(Bandwidth.builder().capacity(2 * perSecond).refillGreedy(perSecond, Duration.ofSeconds(1)).build())
			.build();
	}

	/** An IPv4 address, or the /64 of an IPv6 one. */
	private record Client(byte[] bytes) {

		static Client of(InetAddress address) {
			byte[] raw = address.getAddress();
			return new Client(raw.length == 16 ? Arrays.copyOf(raw, 8) : raw);
		}

		@Override
		public boolean equals(Object other) {
			return other instanceof Client c && Arrays.equals(bytes, c.bytes);
		}

		@Override
		public int hashCode() {
			return Arrays.hashCode(bytes);
		}

		@Override
		public String toString() {
			return "Client" + Arrays.toString(bytes);
		}

	}

}
