package com.gpuflow.agent.local;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.gpuflow.agent.rental.SessionDirectory;
import com.gpuflow.agent.rental.SessionDirectory.Holder;
import com.gpuflow.agent.rental.SessionsChanged;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Component;

/**
 * Who holds which tunnel address now, in memory. A service may ask on every request, so the answer
 * must not cost a query: the table of active holders is loaded once and kept until a
 * {@link SessionsChanged} (activation, end, expiry, rekey, reorganisation) or {@link #TTL} passes,
 * the TTL catching what happens without an event (an address given to a session that waited for
 * one). Expiry needs neither: a holder past its {@code endsAt} is judged by the clock on every answer.
 */
@Component
class WhoisCache {

	static final Duration TTL = Duration.ofSeconds(2);

	private static final Logger log = LoggerFactory.getLogger(WhoisCache.class);

	/** Holders by canonical address, each with its who-is body as it reads while ACTIVE. */
	record Snapshot(Map<String, Entry> byIp, long generation, long loadedAtNanos) {

		Optional<Entry> find(String ip) {
			return Optional.ofNullable(byIp.get(ip));
		}

	}

	record Entry(Holder holder, byte[] activeJson) {
	}

	private final SessionDirectory directory;

	private final AtomicLong generation = new AtomicLong();

	private final Object loading = new Object();

	private volatile Snapshot snapshot;

	WhoisCache(SessionDirectory directory) {
		this.directory = directory;
	}

	@EventListener
	void on(SessionsChanged event) {
		generation.incrementAndGet();
	}

	/** The snapshot if it is current: no change event since it was loaded, and younger than the TTL. */
	Optional<Snapshot> current() {
		Snapshot s = snapshot;
		if (s != null && s.generation() == generation.get() && System.nanoTime() - s.loadedAtNanos() < TTL.toNanos()) {
			return Optional.of(s);
		}
		return Optional.empty();
	}

	/**
	 * A current snapshot, loading one if needed (blocking: call off the event loop). One caller loads
	 * while the others wait for its result. If the database cannot be read and nothing changed since
	 * the last load (only the TTL ran out), the last snapshot answers: a database outage must not
	 * lock renters out of the host's services. After a change event it cannot, and the error passes.
	 */
	Snapshot load() {
		Optional<Snapshot> ready = current();
		if (ready.isPresent()) {
			return ready.get();
		}
		synchronized (loading) {
			ready = current();
			if (ready.isPresent()) {
				return ready.get();
			}
			long seen = generation.get();
			try {
				Map<String, Entry> byIp = new HashMap<>();
				for (Holder holder : directory.activeHolders()) {
					byIp.put(holder.tunnelIp(), new Entry(holder, json(holder, "ACTIVE")));
				}
				Snapshot loaded = new Snapshot(Map.copyOf(byIp), seen, System.nanoTime());
				snapshot = loaded;
				return loaded;
			}
			catch (RuntimeException e) {
				Snapshot last = snapshot;
				if (last != null && last.generation() == seen) {
					log.warn("Who-is answers from its last table: the database cannot be read ({})", e.getClass().getSimpleName());
					return last;
				}
				throw e;
			}
		}
	}

	/** The who-is body of a holder as judged at {@code now}. */
	static byte[] body(Entry entry, Instant now) {
		return entry.holder().activeAt(now) ? entry.activeJson() : json(entry.holder(), state(entry.holder(), now));
	}

	static byte[] json(Holder holder, Instant now) {
		return json(holder, state(holder, now));
	}

	/** The stored state, except that an ACTIVE session past its end reads EXPIRED (the agent's clock decides). */
	static String state(Holder holder, Instant now) {
		return holder.state().name().equals("ACTIVE") && !holder.endsAt().isAfter(now) ? "EXPIRED" : holder.state().name();
	}

	private static byte[] json(Holder holder, String state) {
		StringBuilder out = new StringBuilder(256).append("{\"ip\":");
		string(out, holder.tunnelIp());
		out.append(",\"rentalId\":");
		// JSON numbers lose precision past 2^53: larger ids are strings, as on the renter routes.
		if (holder.rentalId().bitLength() <= 53) {
			out.append(holder.rentalId());
		}
		else {
			string(out, holder.rentalId().toString());
		}
		out.append(",\"renter\":");
		string(out, holder.renter());
		out.append(",\"state\":");
		string(out, state);
		out.append(",\"startsAt\":");
		string(out, LocalRoutes.iso(holder.startsAt()));
		out.append(",\"endsAt\":");
		string(out, LocalRoutes.iso(holder.endsAt()));
		out.append(",\"peerPublicKey\":");
		string(out, holder.peerPublicKey());
		return out.append('}').toString().getBytes(StandardCharsets.UTF_8);
	}

	private static void string(StringBuilder out, String value) {
		if (value == null) {
			out.append("null");
			return;
		}
		out.append('"');
		JsonStringEncoder.getInstance().quoteAsString(value, out);
		out.append('"');
	}

}
