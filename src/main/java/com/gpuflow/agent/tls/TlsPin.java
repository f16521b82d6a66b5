package com.gpuflow.agent.tls;

import java.security.KeyStore;
import java.security.KeyStoreException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.Certificate;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.HexFormat;
import java.util.Optional;

import org.springframework.boot.ssl.NoSuchSslBundleException;
import org.springframework.boot.ssl.SslBundles;

/**
 * The pin of the renter port's TLS key: SHA-256 of the DER SubjectPublicKeyInfo of its certificate,
 * what {@code curl --pinnedpubkey sha256//<base64>} checks and what the contract's
 * {@code tlsSpkiSha256} holds. Read from the SSL bundle each time, so a reloaded certificate
 * shows at once.
 */
public final class TlsPin {

	/** The pin as 32 bytes. */
	public record Pin(byte[] sha256) {

		public static Pin of(Certificate certificate) {
			try {
				return new Pin(MessageDigest.getInstance("SHA-256").digest(certificate.getPublicKey().getEncoded()));
			}
			catch (NoSuchAlgorithmException e) {
				throw new IllegalStateException("SHA-256 is part of every JDK", e);
			}
		}

		/** {@code 0x} + 64 hex, as the contract's bytes32. */
		public String hex() {
			return "0x" + HexFormat.of().formatHex(sha256);
		}

		/** What follows {@code sha256//} in curl's {@code --pinnedpubkey}. */
		public String base64() {
			return Base64.getEncoder().encodeToString(sha256);
		}

		@Override
		public boolean equals(Object other) {
			return other instanceof Pin p && MessageDigest.isEqual(sha256, p.sha256);
		}

		@Override
		public int hashCode() {
			return Arrays.hashCode(sha256);
		}

		@Override
		public String toString() {
			return "sha256//" + base64();
		}

	}

	private final SslBundles bundles;

	TlsPin(SslBundles bundles) {
		this.bundles = bundles;
	}

	/** The pin of the certificate the renter port serves now; empty with TLS off. */
	public Optional<Pin> current() {
		KeyStore store;
		try {
			store = bundles.getBundle(TlsEnvironment.BUNDLE).getStores().getKeyStore();
		}
		catch (NoSuchSslBundleException off) {
			return Optional.empty();
		}
		try {
			for (String alias : Collections.list(store.aliases())) {
				Certificate[] chain = store.getCertificateChain(alias);
				if (chain != null && chain.length > 0) {
					return Optional.of(Pin.of(chain[0]));
				}
				Certificate single = store.getCertificate(alias);
				if (single != null) {
					return Optional.of(Pin.of(single));
				}
			}
		}
		catch (KeyStoreException e) {
			throw new IllegalStateException("the renter port's key store cannot be read: " + e.getMessage(), e);
		}
		return Optional.empty();
	}

}
