package com.gpuflow.agent.audit;

import java.util.List;

/**
 * RFC 4180 text: CRLF after every record, a field quoted when it holds a comma, a quote, CR or LF,
 * and quotes inside doubled. An absent value is an empty field.
 */
final class Csv {

	private Csv() {
	}

	static String of(List<String> header, List<List<String>> records) {
		StringBuilder out = new StringBuilder();
		append(out, header);
		for (List<String> record : records) {
			append(out, record);
		}
		return out.toString();
	}

	private static void append(StringBuilder out, List<String> fields) {
		for (int i = 0; i < fields.size(); i++) {
			if (i > 0) {
				out.append(',');
			}
			out.append(field(fields.get(i)));
		}
		out.append("\r\n");
	}

	static String field(String value) {
		if (value == null) {
			return "";
		}
		boolean quote = value.indexOf(',') >= 0 || value.indexOf('"') >= 0 || value.indexOf('\r') >= 0
				|| value.indexOf('\n') >= 0;
		return quote ? '"' + value.replace("\"", "\"\"") + '"' : value;
	}

}
