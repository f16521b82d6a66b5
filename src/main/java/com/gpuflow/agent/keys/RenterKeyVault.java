package com.gpuflow.agent.keys;

import java.util.Optional;

import com.gpuflow.agent.config.AgentSettings;

import org.springframework.stereotype.Component;

/**
 * Generates renter key pairs and keeps their private halves sealed until delivery. Without
 * {@code GPUFLOW_KEY_ENCRYPTION_KEY} it cannot generate: the agent then serves only rentals whose
 * renter put a public key on chain.
 */
@Component
public class RenterKeyVault {

	public record SealedPair(String publicKey, byte[] sealedPrivateKey) {
	}

	private final Optional<KeySealer> sealer;

	public RenterKeyVault(AgentSettings settings) {
		this.sealer = settings.keyEncryptionKey().map(KeySealer::new);
	}

	public boolean canGenerate() {
		return sealer.isPresent();
	}

	public SealedPair generate(long sessionId) {
		KeySealer keySealer = sealer.orElseThrow(() -> new IllegalStateException(
				"GPUFLOW_KEY_ENCRYPTION_KEY is not set: the agent cannot generate renter keys"));
		WireGuardKeys.KeyPairText pair = WireGuardKeys.generate();
		return new SealedPair(pair.publicKey(), keySealer.seal(pair.privateKey(), sessionId));
	}

	public String open(byte[] sealedPrivateKey, long sessionId) {
		return sealer.orElseThrow(() -> new IllegalStateException("GPUFLOW_KEY_ENCRYPTION_KEY is not set"))
			.open(sealedPrivateKey, sessionId);
	}

}
