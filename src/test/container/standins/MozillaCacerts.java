import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;

/**
 * Writes a Java trust store (PKCS12, password changeit, as Temurin's cacerts) of the PEM
 * certificates in a directory: the JRE stand-in trusts Mozilla's roots as Temurin does, and not
 * the local certificate authorities of the machine that builds it.
 * Usage: java MozillaCacerts.java CERT_DIR OUT_FILE
 */
public class MozillaCacerts {

	public static void main(String[] args) throws Exception {
		KeyStore store = KeyStore.getInstance("PKCS12");
		store.load(null, null);
		CertificateFactory factory = CertificateFactory.getInstance("X.509");
		try (var files = Files.list(Path.of(args[0]))) {
			for (Path file : files.filter(f -> f.toString().endsWith(".crt")).sorted().toList()) {
				try (var in = new FileInputStream(file.toFile())) {
					X509Certificate cert = (X509Certificate) factory.generateCertificate(in);
					String alias = file.getFileName().toString().replaceFirst("\\.crt$", "").toLowerCase();
					store.setCertificateEntry(alias, cert);
				}
			}
		}
		try (var out = new FileOutputStream(args[1])) {
			store.store(out, "changeit".toCharArray());
		}
		System.out.println(store.size() + " certificates");
	}

}
