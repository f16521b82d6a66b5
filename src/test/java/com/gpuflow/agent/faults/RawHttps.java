package com.gpuflow.agent.faults;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

import javax.net.ssl.SSLSocket;

import com.gpuflow.agent.testsupport.AnyCertificate;

/**
 * HTTP/1.1 over one kept-alive TLS connection from a chosen local address (for example 127.0.0.2),
 * which java.net.http cannot bind: a client the agent's per-address limit sees as another machine.
 */
final class RawHttps implements AutoCloseable {

	record Response(int status, String headers, String body) {
	}

	private final SSLSocket socket;

	private final OutputStream out;

	private final InputStream in;

	RawHttps(InetAddress local, int port) throws IOException {
		this.socket = (SSLSocket) AnyCertificate.context().getSocketFactory()
			.createSocket(InetAddress.getLoopbackAddress(), port, local, 0);
		this.socket.setSoTimeout(30_000);
		this.socket.startHandshake();
		this.out = this.socket.getOutputStream();
		this.in = this.socket.getInputStream();
	}

	Response post(String path, String json) throws IOException {
		byte[] body = json == null ? new byte[0] : json.getBytes(StandardCharsets.UTF_8);
		String head = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + body.length + "\r\n"
				+ (json == null ? "" : "Content-Type: application/json\r\n") + "\r\n";
		out.write(head.getBytes(StandardCharsets.US_ASCII));
		out.write(body);
		out.flush();
		String headers = readHeaders();
		int status = Integer.parseInt(headers.substring(9, 12));
		int length = 0;
		boolean chunked = false;
		for (String line : headers.split("\r\n")) {
			String lower = line.toLowerCase(Locale.ROOT);
			if (lower.startsWith("content-length:")) {
				length = Integer.parseInt(line.substring(15).trim());
			}
			chunked |= lower.startsWith("transfer-encoding:") && lower.contains("chunked");
		}
		byte[] content = chunked ? chunks() : in.readNBytes(length);
		return new Response(status, headers, new String(content, StandardCharsets.UTF_8));
	}

	private byte[] chunks() throws IOException {
		ByteArrayOutputStream body = new ByteArrayOutputStream();
		while (true) {
			int size = Integer.parseInt(line().split(";")[0].trim(), 16);
			if (size == 0) {
				line();
				return body.toByteArray();
			}
			body.write(in.readNBytes(size));
			line();
		}
	}

	private String line() throws IOException {
		ByteArrayOutputStream buffer = new ByteArrayOutputStream();
		int b;
		while ((b = in.read()) >= 0 && b != '\n') {
			if (b != '\r') {
				buffer.write(b);
			}
		}
		return buffer.toString(StandardCharsets.US_ASCII);
	}

	private String readHeaders() throws IOException {
		ByteArrayOutputStream buffer = new ByteArrayOutputStream();
		int matched = 0;
		while (matched < 4) {
			int b = in.read();
			if (b < 0) {
				throw new IOException("the connection closed mid-response");
			}
			buffer.write(b);
			matched = (b == '\r' && (matched == 0 || matched == 2)) || (b == '\n' && (matched == 1 || matched == 3))
					? matched + 1 : (b == '\r' ? 1 : 0);
		}
		return buffer.toString(StandardCharsets.US_ASCII);
	}

	@Override
	public void close() throws IOException {
		socket.close();
	}

}
