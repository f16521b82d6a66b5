package com.gpuflow.agent.audit;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * gpuflow_auditor, as the SPEC defines it: SELECT on the three views and nothing else. Checked both
 * with SET ROLE and through a real LOGIN role that is granted gpuflow_auditor, as an operator would.
 */
class AuditorRoleTest {

	static final List<String> VIEWS = List.of("audit_sessions", "audit_ip_history", "audit_events");

	static final List<String> TABLES = List.of("sessions", "leases", "audit_log", "audit_head", "chain_events",
			"chain_cursor", "chain_blocks", "pending_rentals", "spent_nonces", "ipam_cursor", "flyway_schema_history");

	@Test
	void theAuditorReadsTheThreeViewsAndNothingElse() throws SQLException {
		AuditDatabase db = AuditDatabase.create();
		db.append(AuditDatabase.HOST, null, 1L, "created", "visible to auditors");
		try (Connection c = db.connection().open(); Statement s = c.createStatement()) {
			s.execute("grant gpuflow_auditor to current_user");
			s.execute("set role gpuflow_auditor");
			assertAuditorRights(s);
		}
	}

	@Test
	void aLoginRoleGrantedTheAuditorRoleHasExactlyItsRights() throws SQLException {
		AuditDatabase db = AuditDatabase.create();
		db.append(AuditDatabase.HOST, null, 1L, "created", "visible to auditors");
		String login = "auditor_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
		try (Connection c = db.connection().open(); Statement s = c.createStatement()) {
			s.execute("create role " + login + " login password 'auditor-password' in role gpuflow_auditor");
		}
		try {
			var auditor = new com.gpuflow.agent.testsupport.TestDatabase.Connection(db.connection().url(), login,
					"auditor-password");
			try (Connection c = auditor.open(); Statement s = c.createStatement()) {
				assertAuditorRights(s);
			}
		}
		finally {
			try (Connection c = db.connection().open(); Statement s = c.createStatement()) {
				s.execute("drop role " + login);
			}
		}
	}

	@Test
	void theRoleIsNotALogin() throws SQLException {
		AuditDatabase db = AuditDatabase.create();
		assertThat(db.jdbc().sql("select rolcanlogin from pg_roles where rolname = 'gpuflow_auditor'")
			.query(Boolean.class)
			.single()).isFalse();
	}

	private static void assertAuditorRights(Statement s) throws SQLException {
		for (String view : VIEWS) {
			try (var rs = s.executeQuery("select count(*) from " + view)) {
				rs.next();
				assertThat(rs.getLong(1)).as(view).isGreaterThanOrEqualTo(0);
			}
		}
		try (var rs = s.executeQuery("select detail from audit_events")) {
			assertThat(rs.next()).isTrue();
			assertThat(rs.getString(1)).isEqualTo("visible to auditors");
		}
		for (String table : TABLES) {
			assertThatThrownBy(() -> s.executeQuery("select * from " + table)).as(table).hasMessageContaining("permission denied");
		}
		assertThatThrownBy(() -> s.executeUpdate("insert into audit_log (host_id, kind) values ('x', 'created')"))
			.hasMessageContaining("permission denied");
		assertThatThrownBy(() -> s.executeUpdate("update sessions set renter = 'x'")).hasMessageContaining("permission denied");
		assertThatThrownBy(() -> s.executeUpdate("delete from leases")).hasMessageContaining("permission denied");
		assertThatThrownBy(() -> s.executeUpdate("delete from audit_events")).hasMessageContaining("permission denied");
		assertThatThrownBy(() -> s.executeUpdate("update audit_sessions set renter = 'x'")).hasMessageContaining("permission denied");
		// a join view is not updatable at all, whatever the grants say
		assertThatThrownBy(() -> s.executeUpdate("insert into audit_ip_history (host_id) values ('x')"))
			.hasMessageMatching("(?s).*(permission denied|cannot insert into view).*");
		assertThatThrownBy(() -> s.executeQuery("select nextval('audit_log_id_seq')")).hasMessageContaining("permission denied");
		assertThatThrownBy(() -> s.execute("create table auditor_scratch (x int)")).hasMessageContaining("permission denied");
		assertThatThrownBy(() -> s.execute("create view auditor_view as select 1")).hasMessageContaining("permission denied");
	}

}
