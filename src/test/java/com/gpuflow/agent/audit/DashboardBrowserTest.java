package com.gpuflow.agent.audit;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.logging.Level;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.support.ui.WebDriverWait;

import org.springframework.context.annotation.Bean;
import org.springframework.jdbc.core.simple.JdbcClient;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The operator dashboard in Debian's headless Chromium against a running agent with live sessions
 * on anvil. The interface is simulated by a {@link LivePeers} bean (the agent runs without
 * WireGuard here), which also shows that the empty fallback steps aside for a real one.
 */
class DashboardBrowserTest {

	/**
	 * Not a {@code @Configuration}: the agent's component scan covers the test classpath, and this
	 * must only reach the agent this test starts.
	 */
	static class SimulatedInterface {

		@Bean
		LivePeers simulatedPeers(JdbcClient jdbc) {
			return () -> jdbc.sql("""
					select peer_public_key, host(tunnel_ip) from sessions
					where state = 'ACTIVE' and peer_public_key is not null and tunnel_ip is not null order by id""")
				.query((rs, n) -> new LivePeers.Peer(rs.getString(1), Optional.of("198.51.100." + (7 + n) + ":51820"),
						List.of(rs.getString(2) + "/32"), Optional.of(Instant.now().minusSeconds(12 + 400L * n)),
						1_288_490_189L * (n + 1), 73_400_320L * (n + 1)))
				.list();
		}

		/** An hour of traffic for every peer: a wave, so a sparkline has something to draw. */
		@Bean
		PeerTraffic simulatedTraffic() {
			return publicKey -> {
				Instant start = Instant.now().minus(Duration.ofHours(1));
				List<PeerTraffic.Bucket> buckets = new java.util.ArrayList<>();
				for (int i = 0; i < 120; i++) {
					long wave = (long) (40_000 * (1.2 + Math.sin(i / 8.0)));
					buckets.add(new PeerTraffic.Bucket(start.plusSeconds(30L * i), wave, wave / 3));
				}
				return new PeerTraffic.History(Duration.ofSeconds(30), buckets);
			};
		}

	}

	/**
	 * Connection quality as the reconciler would have recorded it: the older active session set up
	 * in 4.2 s and connected, the newer one needed 75 s (not established) and has since dropped once.
	 */
	void connectionFixtures() {
		var second = agent.rentals.get(1);
		var third = agent.rentals.get(2);
		agent.jdbc.sql("""
				update sessions set config_delivered_at = now() - interval '10 minutes', setup_seconds = 4.2,
				       setup_outcome = 'established', connection_state = 'connected', connected_since = now() - interval '9 minutes'
				where rental_id = ? and state = 'ACTIVE'""")
			.param(new java.math.BigDecimal(second.rentalId()))
			.update();
		agent.jdbc.sql("""
				update sessions set config_delivered_at = now() - interval '20 minutes', setup_seconds = 75,
				       setup_outcome = 'not_established', connection_state = 'lost', drops = 1, connected_seconds = 300
				where rental_id = ? and state = 'ACTIVE' returning id""")
			.param(new java.math.BigDecimal(third.rentalId()))
			.query(Long.class)
			.list()
			.forEach(session -> agent.jdbc.sql("""
					insert into audit_log (host_id, session_id, rental_id, kind, detail)
					values (?, ?, ?, 'connection_lost', 'latest handshake 181 s ago')""")
				.params(LiveAgent.HOST, session, new java.math.BigDecimal(third.rentalId()))
				.update());
	}

	/** Console errors of the page since the last call (chromedriver hands each entry out once). */
	List<String> consoleErrors() {
		return browser.manage()
			.logs()
			.get(LogType.BROWSER)
			.getAll()
			.stream()
			.filter(entry -> entry.getLevel().intValue() >= Level.SEVERE.intValue())
			.map(LogEntry::getMessage)
			.toList();
	}

	LiveAgent agent;

	WebDriver browser;

	Path profile;

	@AfterEach
	void stop() throws Exception {
		if (browser != null) {
			browser.quit();
		}
		if (agent != null) {
			agent.close();
		}
		if (profile != null) {
			org.springframework.util.FileSystemUtils.deleteRecursively(profile);
		}
	}

	WebDriver chromium() throws Exception {
		profile = Files.createTempDirectory("chromium-profile");
		ChromeOptions options = new ChromeOptions();
		options.setBinary("/usr/bin/chromium");
		options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--user-data-dir=" + profile, "--window-size=1360,1400");
		options.setCapability("goog:loggingPrefs", java.util.Map.of("browser", "ALL"));
		ChromeDriverService service = new ChromeDriverService.Builder()
			.usingDriverExecutable(new File("/usr/bin/chromedriver"))
			.usingAnyFreePort()
			.build();
		return new ChromeDriver(service, options);
	}

	List<WebElement> rows() {
		return browser.findElements(By.cssSelector("#session-rows tr"));
	}

	String text(WebElement row, String cellClass) {
		return row.findElement(By.cssSelector("td." + cellClass)).getText();
	}

	@Test
	void theDashboardShowsTheLiveSessionsAndFollowsTheChain() throws Exception {
		agent = LiveAgent.start(SimulatedInterface.class);
		connectionFixtures();
		browser = chromium();
		WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(20));
		browser.get("http://127.0.0.1:" + agent.port() + "/");

		// The token is asked for once; a wrong one is refused with the agent's reason.
		wait.until(b -> b.findElement(By.id("sign-in")).isDisplayed());
		browser.findElement(By.id("token")).sendKeys("not-the-token-at-all");
		browser.findElement(By.cssSelector("#token-form button")).click();
		wait.until(b -> b.findElement(By.id("token-error")).isDisplayed());
		assertThat(browser.findElement(By.id("token-error")).getText()).contains("not valid");
		// The refused token's 401 is the one console error allowed.
		assertThat(consoleErrors()).allSatisfy(message -> assertThat(message).contains("401"));

		browser.findElement(By.id("token")).sendKeys(LiveAgent.TOKEN);
		browser.findElement(By.cssSelector("#token-form button")).click();
		wait.until(b -> rows().size() == 2);

		var second = agent.rentals.get(1);
		var third = agent.rentals.get(2);
		// Newest first: the third rental, then the second (the first one ended on chain).
		List<WebElement> rows = rows();
		assertThat(text(rows.get(0), "rental")).isEqualTo("#" + third.rentalId());
		assertThat(text(rows.get(1), "rental")).isEqualTo("#" + second.rentalId());
		assertThat(text(rows.get(1), "renter")).isEqualTo(second.renter().substring(0, 6) + "…" + second.renter().substring(38));
		assertThat(rows.get(1).findElement(By.cssSelector("td.renter")).getAttribute("title")).isEqualTo(second.renter());
		for (WebElement row : rows) {
			assertThat(text(row, "address")).matches("10\\.77\\.0\\.\\d+");
		}
		// 5400 s and 7200 s rentals: a little under 1 h 30 min and 2 h left.
		assertThat(text(rows.get(0), "time-left")).matches("1 h (2\\d) min");
		assertThat(text(rows.get(1), "time-left")).matches("1 h 5\\d min");
		// The simulated interface: the older session's peer shook hands 12 s ago, the newer one's 412 s ago.
		assertThat(text(rows.get(1), "handshake")).matches("1\\d s ago");
		assertThat(text(rows.get(0), "handshake")).matches("6 min ago");
		assertThat(text(rows.get(1), "rx")).isEqualTo("1.2 GiB");
		assertThat(text(rows.get(1), "tx")).isEqualTo("70.0 MiB");
		assertThat(browser.findElement(By.id("active-count")).getText()).isEqualTo("2");
		assertThat(browser.findElement(By.id("connected-count")).getText()).isEqualTo("1");
		wait.until(b -> b.findElement(By.id("chain-status")).getText().equals("lag 0"));
		assertThat(browser.findElement(By.id("db-status")).getText()).isEqualTo("UP");
		assertThat(browser.findElement(By.id("reconcile-status")).getText()).isEqualTo("not reported");

		// Shown, not listed: the setup-time distribution, drops per hour, a sparkline per session.
		wait.until(b -> b.findElements(By.cssSelector("#setup-chart canvas")).size() == 1
				&& b.findElements(By.cssSelector("#drops-chart canvas")).size() == 1
				&& b.findElements(By.cssSelector("#session-rows .spark canvas")).size() == 2);
		for (WebElement canvas : browser.findElements(By.cssSelector("canvas"))) {
			assertThat(canvas.getSize().getWidth()).as("a drawn plot has a size").isGreaterThan(100);
		}
		assertThat(text(rows.get(1), "connection")).isEqualTo("connected");
		assertThat(rows.get(1).findElement(By.cssSelector("td.connection")).getAttribute("title")).contains("setup 4.2 s");
		assertThat(text(rows.get(0), "connection")).isEqualTo("lost");
		assertThat(rows.get(0).findElement(By.cssSelector("td.connection")).getAttribute("title")).contains("1 drop");
		// Against the seed's targets: 1 of 2 setups established, 1 drop per established tunnel, median 4.2 s.
		assertThat(browser.findElement(By.id("success-rate")).getText()).isEqualTo("50 %");
		assertThat(browser.findElement(By.id("tile-success")).getAttribute("class")).contains("bad");
		assertThat(browser.findElement(By.id("drop-rate")).getText()).isEqualTo("100 %");
		assertThat(browser.findElement(By.id("setup-median")).getText()).isEqualTo("4.2 s");
		assertThat(browser.findElement(By.id("tile-setup")).getAttribute("class")).contains("ok");

		// A session's history on click: its audit events and its traffic.
		rows.get(0).click();
		wait.until(b -> b.findElement(By.id("history")).isDisplayed()
				&& !b.findElements(By.cssSelector("#history-rows tr.kind-connection_lost")).isEmpty()
				&& b.findElements(By.cssSelector("#history-chart canvas")).size() == 1);
		assertThat(browser.findElement(By.id("history-title")).getText()).isEqualTo("Session #" + third.rentalId());
		assertThat(browser.findElements(By.cssSelector("#history-rows tr.kind-created"))).hasSize(1);
		assertThat(consoleErrors()).as("no JavaScript errors while rendering").isEmpty();

		Path screenshot = Path.of("target", "dashboard.png");
		Files.createDirectories(screenshot.getParent());
		Files.copy(((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE).toPath(), screenshot,
				StandardCopyOption.REPLACE_EXISTING);

		// The open panel follows the session's audit trail (here an SSH key set) without another click.
		agent.jdbc.sql("insert into audit_log (host_id, session_id, rental_id, kind, detail)"
				+ " select host_id, id, rental_id, 'ssh_keys_set', '1 key: ssh-ed25519 SHA256:dashboardTestKey'"
				+ " from sessions where rental_id = ? and state = 'ACTIVE'")
			.param(new java.math.BigDecimal(third.rentalId()))
			.update();
		// Read as one step that is retried: the panel is redrawn with every refresh.
		new WebDriverWait(browser, Duration.ofSeconds(30)).until(b -> {
			try {
				List<WebElement> found = b.findElements(By.cssSelector("#history-rows tr[data-kind='ssh_keys_set']"));
				return found.size() == 1 && text(found.get(0), "kind").equals("ssh keys set")
						&& text(found.get(0), "detail").equals("1 key: ssh-ed25519 SHA256:dashboardTestKey");
			}
			catch (org.openqa.selenium.StaleElementReferenceException e) {
				return false;
			}
		});
		assertThat(browser.findElements(By.cssSelector("main .card"))
			.stream()
			.filter(card -> card.isDisplayed()
					&& !card.findElements(By.cssSelector("tr[data-kind='created'], tr.kind-created")).isEmpty()))
			.as("one panel per clicked session").hasSize(1);
		browser.findElement(By.id("history-close")).click();
		wait.until(b -> !b.findElement(By.id("history")).isDisplayed());

		// The page refreshes by itself: a rental ended on chain leaves the table without a reload.
		agent.market.endRental(2, second.rentalId());
		new WebDriverWait(browser, Duration.ofSeconds(30)).until(b -> rows().size() == 1);
		assertThat(text(rows().get(0), "rental")).isEqualTo("#" + third.rentalId());

		// The token lives in the tab's sessionStorage: a reload does not ask again.
		browser.navigate().refresh();
		wait.until(b -> rows().size() == 1);
		assertThat(browser.findElement(By.id("sign-in")).isDisplayed()).isFalse();
		assertThat(consoleErrors()).as("no JavaScript errors after refreshes and a reload").isEmpty();
		browser.findElement(By.id("sign-out")).click();
		wait.until(b -> b.findElement(By.id("sign-in")).isDisplayed());
	}

}
