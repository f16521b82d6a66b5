package com.gpuflow.agent.tls;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.gpuflow.agent.config.AgentSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.web3j.abi.FunctionEncoder;
import org.web3j.abi.FunctionReturnDecoder;
import org.web3j.abi.TypeReference;
import org.web3j.abi.Utils;
import org.web3j.abi.datatypes.Function;
import org.web3j.abi.datatypes.Type;
import org.web3j.abi.datatypes.Utf8String;
import org.web3j.abi.datatypes.generated.Bytes32;
import org.web3j.protocol.Web3j;
import org.web3j.protocol.core.DefaultBlockParameterName;
import org.web3j.protocol.core.methods.request.Transaction;
import org.web3j.protocol.core.methods.response.EthCall;
import org.web3j.utils.Numeric;

import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.HealthIndicator;
import org.springframework.scheduling.annotation.Scheduled;

/**
 * Compares the host's endpoint on chain ({@code hostEndpoint(HOST_ID)}) with the agent's own public
 * URL and TLS pin, at start and every {@code gpuflow.tls.pin-check-ms}; reading the view is simpler
 * and more robust than following {@code HostEndpointSet} logs, and sees a reloaded certificate too.
 * A difference is a health detail ({@code tlsPin}) and one log line per change, never DOWN: renters
 * can still be served by someone who knows the address, and a provider may publish later.
 */
class HostEndpointWatch implements HealthIndicator {

	private static final Logger log = LoggerFactory.getLogger(HostEndpointWatch.class);

	private static final List<TypeReference<Type>> RESULT = Utils.convert(List.of(new TypeReference<Utf8String>() {
	}, new TypeReference<Bytes32>() {
	}));

	private final AgentSettings settings;

	private final TlsPin pin;

	private final Web3j chain;

	private final String callData;

	private volatile HostEndpointCheck last;

	HostEndpointWatch(AgentSettings settings, TlsPin pin, Web3j chain) {
		this.settings = settings;
		this.pin = pin;
		this.chain = chain;
		this.callData = FunctionEncoder.encode(new Function("hostEndpoint",
				List.of(new Bytes32(Numeric.hexStringToByteArray(settings.hostId()))), List.of()));
	}

	@Scheduled(initialDelay = 0, fixedDelayString = "${gpuflow.tls.pin-check-ms:30000}")
	void checkOnSchedule() {
		check();
	}

	HostEndpointCheck check() {
		Optional<TlsPin.Pin> own = pin.current();
		HostEndpointCheck now;
		try {
			EthCall call = chain.ethCall(Transaction.createEthCallTransaction(null, settings.rentalContract(), callData),
					DefaultBlockParameterName.LATEST).send();
			if (call.hasError() || call.getValue() == null || call.getValue().length() < 2 + 64 * 3) {
				throw new IOException(call.hasError() ? call.getError().getMessage() : "no answer to hostEndpoint()");
			}
			List<Type> values = FunctionReturnDecoder.decode(call.getValue(), RESULT);
			now = HostEndpointCheck.compare(settings.publicUrl(), own, (String) values.get(0).getValue(),
					(byte[]) values.get(1).getValue());
		}
		catch (IOException | RuntimeException e) {
			now = HostEndpointCheck.unknown(settings.publicUrl(), own);
			if (last == null || last.state() != HostEndpointCheck.State.UNKNOWN) {
				log.warn("cannot read this host's endpoint from the chain: {}", e.getMessage());
			}
		}
		report(now);
		last = now;
		return now;
	}

	private void report(HostEndpointCheck now) {
		if (now.sameAs(last) || now.state() == HostEndpointCheck.State.UNKNOWN) {
			return;
		}
		String own = "url " + now.ownUrl() + ", pin " + pinText(now);
		switch (now.state()) {
			case MATCHES -> log.info("the chain publishes this host's endpoint as this agent serves it ({})", own);
			case NOT_PUBLISHED -> log.warn("this host's endpoint is not published on chain; renters find it there."
					+ " The provider publishes it with: {}", castCommand(now));
			case MISMATCH -> log.warn("the chain publishes this host's endpoint as url {}, pin {}, but this agent serves {}:"
					+ " renters will refuse it. The provider fixes it with: {}", now.publishedUrl(),
					Numeric.toHexString(now.publishedPin()), own, castCommand(now));
			default -> {
			}
		}
	}

	private String castCommand(HostEndpointCheck now) {
		return "cast send " + settings.rentalContract() + " 'setHostEndpoint(bytes32,string,bytes32)' "
				+ settings.hostId() + " '" + now.ownUrl() + "' " + pinHex(now)
				+ " --rpc-url <chain> --private-key <the provider's key>";
	}

	private static String pinHex(HostEndpointCheck check) {
		return check.ownPin().map(TlsPin.Pin::hex).orElse("0x" + "0".repeat(64));
	}

	private static String pinText(HostEndpointCheck check) {
		return check.ownPin().map(p -> p.hex() + " (" + p + ")").orElse("none (TLS off)");
	}

	void close() {
		chain.shutdown();
	}

	@Override
	public Health health() {
		HostEndpointCheck check = last;
		if (check == null) {
			check = check();
		}
		Map<String, Object> details = new LinkedHashMap<>();
		details.put("onChain", switch (check.state()) {
			case MATCHES -> "matches";
			case NOT_PUBLISHED -> "not_published";
			case MISMATCH -> "mismatch";
			case UNKNOWN -> "unknown";
		});
		details.put("url", check.ownUrl());
		details.put("pin", pinHex(check));
		check.ownPin().ifPresent(p -> details.put("curlPin", p.toString()));
		if (check.state() == HostEndpointCheck.State.MISMATCH) {
			details.put("publishedUrl", check.publishedUrl());
			details.put("publishedPin", Numeric.toHexString(check.publishedPin()));
			details.put("urlDiffers", check.urlDiffers());
			details.put("pinDiffers", check.pinDiffers());
		}
		// Never DOWN: a missing or stale publication does not stop the agent serving renters.
		return Health.up().withDetails(details).build();
	}

}
