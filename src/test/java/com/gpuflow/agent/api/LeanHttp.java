package com.gpuflow.agent.api;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * A minimal HTTP/1.1 client for load generation: one keep-alive connection, one request at a time,
 * bodies by Content-Length or chunked. Real HTTP over TCP, without the CPU a general-purpose client
 * spends, because the load generator shares the machine's cores with the server it measures.
 */
final class LeanHttp implements AutoCloseable {

	record Response(int status, String body) {

		static Response of(HttpResponse<String> response) {
			return new Response(response.statusCode(), response.body());
		}

	}

	private final Socket socket;

	private final InputStream in;

	private final OutputStream out;

	LeanHttp(int port) {
		try {
			socket = new Socket("127.0.0.1", port);
			socket.setTcpNoDelay(true);
			in = new BufferedInputStream(socket.getInputStream(), 16 * 1024);
			out = socket.getOutputStream();
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	Response get(String path) {
		try {
			out.write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
			out.flush();
			return read();
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	Response post(String path, String contentType, byte[] body) {
		try {
			StringBuilder head = new StringBuilder(160).append("POST ").append(path)
				.append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ").append(body.length).append("\r\n");
			if (contentType != null) {
				head.append("Content-Type: ").append(contentType).append("\r\n");
			}
			byte[] headBytes = head.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII);
			byte[] request = new byte[headBytes.length + body.length];
			System.arraycopy(headBytes, 0, request, 0, headBytes.length);
			System.arraycopy(body, 0, request, headBytes.length, body.length);
			out.write(request);
			out.flush();
			return read();
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	private Response read() throws IOException {
		String status = line();
		int code = Integer.parseInt(status.substring(9, 12));
		int length = -1;
		boolean chunked = false;
		for (String header = line(); !header.isEmpty(); header = line()) {
			String lower = header.toLowerCase(Locale.ROOT);
			if (lower.startsWith("content-length:")) {
				length = Integer.parseInt(lower.substring(15).trim());
			}
			else if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
				chunked = true;
			}
		}
		ByteArrayOutputStream body = new ByteArrayOutputStream();
		if (chunked) {
			for (int size = Integer.parseInt(line().split(";")[0].trim(), 16); size > 0;
					size = Integer.parseInt(line().split(";")[0].trim(), 16)) {
				body.write(in.readNBytes(size));
				line();
			}
			line();
		}
		else if (length >= 0) {
			body.write(in.readNBytes(length));
		}
		else {
			throw new IOException("a response without a length on a keep-alive connection");
		}
		return new Response(code, body.toString(StandardCharsets.UTF_8));
	}

	private String line() throws IOException {
		StringBuilder line = new StringBuilder(64);
		for (int c = in.read(); c != '\n'; c = in.read()) {
			if (c < 0) {
				throw new IOException("connection closed");
			}
			if (c != '\r') {
				line.append((char) c);
			}
		}
		return line.toString();
	}

	@Override
	public void close() {
		try {
			socket.close();
		}
		catch (IOException e) {
			// nothing to do
		}
	}

}
