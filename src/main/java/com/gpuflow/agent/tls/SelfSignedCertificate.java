package com.gpuflow.agent.tls;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Date;
import java.util.LinkedHashSet;
import java.util.List;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The renter port's certificate when the operator gives none: an ECDSA P-256 key and a self-signed
 * certificate, made once beside the server key ({@code tls.crt}, {@code tls.key}, PEM, 0600) and
 * reused after, so its pin (published on chain) stays the same across restarts. Renters trust it
 * by that pin, not by a CA, so its validity is long and its names are only informative.
 */
final class SelfSignedCertificate {

	static final String CERT_FILE = "tls.crt";

	static final String KEY_FILE = "tls.key";

	static final Duration VALIDITY = Duration.ofDays(3650);

	private static final SecureRandom RANDOM = new SecureRandom();

	private SelfSignedCertificate() {
	}

	record Pair(Path certificate, Path privateKey, boolean created) {
	}

	/**
	 * The certificate and key in {@code directory}, made first if either is missing.
	 * @param names host names or IP literals the certificate names (its subject alternative names)
	 */
	static Pair loadOrCreate(Path directory, Collection<String> names) throws IOException {
		Path certificate = directory.resolve(CERT_FILE);
		Path key = directory.resolve(KEY_FILE);
		if (Files.exists(certificate) && Files.exists(key)) {
			return new Pair(certificate, key, false);
		}
		Files.createDirectories(directory);
		KeyPair pair;
		X509Certificate made;
		try {
			KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
			generator.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
			pair = generator.generateKeyPair();
			made = certificate(pair, names);
		}
		catch (GeneralSecurityException | OperatorCreationException e) {
			throw new IOException("cannot make a self-signed certificate: " + e.getMessage(), e);
		}
		// Key first, certificate last, each moved into place whole: a certificate on disk always has
		// its key beside it.
		try {
			writeAtomically(key, pem("PRIVATE KEY", pair.getPrivate().getEncoded()));
			writeAtomically(certificate, pem("CERTIFICATE", made.getEncoded()));
		}
		catch (GeneralSecurityException e) {
			throw new IOException(e);
		}
		return new Pair(certificate, key, true);
	}

	private static X509Certificate certificate(KeyPair pair, Collection<String> names)
			throws GeneralSecurityException, OperatorCreationException, IOException {
		X500Name subject = new X500Name("CN=gpuflow-agent");
		Instant now = Instant.now();
		X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(subject, new BigInteger(63, RANDOM).add(BigInteger.ONE),
				Date.from(now.minus(Duration.ofDays(1))), Date.from(now.plus(VALIDITY)), subject, pair.getPublic());
		List<GeneralName> alternatives = new ArrayList<>();
		for (String name : new LinkedHashSet<>(names)) {
			if (name == null || name.isBlank()) {
				continue;
			}
			String bare = name.startsWith("[") ? name.substring(1, name.length() - 1) : name;
			boolean ip = bare.contains(":") || bare.matches("[0-9.]+");
			alternatives.add(new GeneralName(ip ? GeneralName.iPAddress : GeneralName.dNSName, bare));
		}
		if (!alternatives.isEmpty()) {
			builder.addExtension(Extension.subjectAlternativeName, false,
					new GeneralNames(alternatives.toArray(GeneralName[]::new)));
		}
		builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
		return new JcaX509CertificateConverter()
			.getCertificate(builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(pair.getPrivate())));
	}

	private static byte[] pem(String type, byte[] der) {
		String body = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
		return ("-----BEGIN " + type + "-----\n" + body + "\n-----END " + type + "-----\n")
			.getBytes(StandardCharsets.US_ASCII);
	}

	private static void writeAtomically(Path file, byte[] content) throws IOException {
		Path temporary = Files.createTempFile(file.toAbsolutePath().getParent(), "." + file.getFileName() + "-", ".tmp",
				PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
		try {
			Files.write(temporary, content);
			Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
		}
		finally {
			Files.deleteIfExists(temporary);
		}
	}

}
