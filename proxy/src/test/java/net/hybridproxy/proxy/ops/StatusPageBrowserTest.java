package net.hybridproxy.proxy.ops;

import net.hybridproxy.engine.convert.ConnectTlv;
import net.hybridproxy.engine.convert.ConvertMessage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.TimeoutException;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.File;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The status page in headless Chromium (Debian chromium + chromium-driver) against running appliances while
 * traffic flows: the page must show both uplinks, the subflow table, and byte figures that grow between polls.
 * A second test drives the uplink buttons with the token and photographs the cpe's page; a third connects two cpes
 * to the concentrator, checks its per-cpe table and photographs its page.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class StatusPageBrowserTest {
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    /** Traffic is paced (a chunk every few ms) and bounded in time, so the test cannot flood anything. */
    private static final int CHUNK = 64 * 1024;
    private static final Duration MAX_TRAFFIC = Duration.ofSeconds(120);

    private RunningAppliances pair;
    private final AtomicBoolean sending = new AtomicBoolean(true);
    private Thread traffic;

    @BeforeAll
    void start() throws Exception {
        String skip = RunningAppliances.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        Assumptions.assumeTrue(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
                "needs chromium and chromium-driver (Debian packages)");
        pair = RunningAppliances.start("page");
        Socket connection = pair.connect();
        traffic = Thread.ofPlatform().daemon().name("page-traffic").start(() -> {
            long deadline = System.nanoTime() + MAX_TRAFFIC.toNanos();
            try (connection) {
                while (sending.get() && System.nanoTime() < deadline) {
                    RunningAppliances.write(connection, CHUNK);
                    Thread.sleep(5); // about 12 MB/s at most
                }
                connection.shutdownOutput();
                connection.getInputStream().read();
            } catch (Exception ignored) {
                // the test ended and closed everything
            }
        });
    }

    @AfterAll
    void stop() throws Exception {
        sending.set(false);
        if (traffic != null) {
            traffic.join(5000);
        }
        if (pair != null) {
            pair.close();
        }
    }

    private static WebDriver browser() {
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1700,1100", "--no-first-run", "--disable-extensions");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
        return new ChromeDriver(service, options);
    }

    /**
     * The uplink buttons, as an operator uses them: the token is typed once into the page's form (never in the
     * address), a click on lte's "drain" drains it (the API's own status says so), "enable" restores it. The
     * sparklines fill with the server's 5 s samples, and the concentrator's page is photographed too.
     */
    @Test
    @Order(2)
    void theButtonsActWithTheTokenAndTheSparklinesFill() throws Exception {
        WebDriver browser = browser();
        try {
            browser.get(pair.cpeAdmin.baseUri() + "/");
            WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(30));
            wait.ignoring(StaleElementReferenceException.class);
            wait.until(b -> b.findElement(By.id("auth")).isDisplayed());
            browser.findElement(By.id("auth-token")).sendKeys(RunningAppliances.TOKEN);
            browser.findElement(By.cssSelector("#auth-form button")).click();
            wait.until(b -> !b.findElements(By.cssSelector("#uplinks tr[data-uplink='lte']")).isEmpty());
            assertEquals(RunningAppliances.TOKEN, ((JavascriptExecutor) browser).executeScript(
                    "return sessionStorage.getItem('hybridproxy-token')"), "the token is kept for the tab");

            click(wait, "#uplinks tr[data-uplink='lte'] button[data-action='drain']");
            wait.until(b -> "draining".equals(b.findElement(By.cssSelector("#uplinks tr[data-uplink='lte']"))
                    .getDomAttribute("data-admin-state")));
            assertTrue(pair.cpeStatus().contains("\"name\":\"lte\",\"interface\":\"lo\",\"address\":\""
                    + RunningAppliances.LTE + "\",\"configuredRole\":\"primary\",\"adminState\":\"draining\""),
                    "the API must agree with the page");
            click(wait, "#uplinks tr[data-uplink='lte'] button[data-action='enable']");
            wait.until(b -> "active".equals(b.findElement(By.cssSelector("#uplinks tr[data-uplink='lte']"))
                    .getDomAttribute("data-admin-state")));
            assertEquals("lte enable", browser.findElement(By.id("action-result")).getDomAttribute("data-done"));

            // Two server samples (5 s apart) make the first point of each sparkline; the README's pictures are
            // taken with more (-Dhybridproxy.sparkline-points=12: a minute of traffic).
            int points = Integer.getInteger("hybridproxy.sparkline-points", 2);
            new WebDriverWait(browser, Duration.ofSeconds(20 + 5L * points))
                    .ignoring(StaleElementReferenceException.class)
                    .until(b -> Integer.parseInt(b.findElement(By.cssSelector(
                            "#uplinks tr[data-uplink='dsl'] svg.spark")).getDomAttribute("data-points")) >= points);
            screenshot(browser, "status-page.png");
        } finally {
            browser.quit();
        }
    }

    /**
     * The concentrator's per-cpe table with two cpes connected: the cpe process (no keys are configured, so the
     * concentrator names it by its address) with a connection whose subflows come from both of its uplinks, and a
     * second RFC 8803 client from another address. Each gets a row with its open connection, its bytes and its
     * subflows per uplink; the JSON says the same. The concentrator's picture in the README is taken here.
     */
    @Test
    @Order(3)
    void theConcentratorListsEachCpeWithItsConnectionsBytesAndSubflows() throws Exception {
        String secondCpe = "198.18.0.4";
        pair.ns.ip("addr", "add", secondCpe + "/32", "dev", "lo");
        int payload = 300 * 1024;
        try (Socket viaCpe = pair.connect();
             Socket direct = pair.ns.call(() -> {
                 Socket socket = new Socket();
                 socket.bind(new InetSocketAddress(InetAddress.getByName(secondCpe), 0));
                 socket.connect(new InetSocketAddress(RunningAppliances.DSL, RunningAppliances.CONCENTRATOR_PORT));
                 return socket;
             })) {
            direct.getOutputStream().write(ConvertMessage.of(new ConnectTlv(new InetSocketAddress(
                    InetAddress.getByName(RunningAppliances.TARGET), RunningAppliances.TARGET_PORT))).encode());
            RunningAppliances.write(direct, payload);
            RunningAppliances.write(viaCpe, CHUNK);

            WebDriver browser = browser();
            try {
                browser.get(pair.concentratorAdmin.baseUri() + "/");
                WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(30));
                wait.ignoring(StaleElementReferenceException.class);
                String second = "#cpes tr[data-cpe='" + secondCpe + "']";
                untilOrExplain(wait, b -> !b.findElements(By.cssSelector(second)).isEmpty()
                        && Long.parseLong(b.findElement(By.cssSelector(second)).getDomAttribute("data-bytes"))
                        >= payload / 2); // the rest may still sit in socket buffers
                // The cpe process's row: the one whose open connection has subflows from both of its uplinks.
                untilOrExplain(wait, b -> b.findElements(By.cssSelector("#cpes tr[data-identified-by='address']"))
                        .stream().anyMatch(r -> Integer.parseInt(r.getDomAttribute("data-subflows")) >= 2
                                && r.getText().contains(RunningAppliances.DSL + ": ")
                                && r.getText().contains(RunningAppliances.LTE + ": ")));

                @SuppressWarnings("unchecked")
                Map<String, Object> table = (Map<String, Object>) ((JavascriptExecutor) browser).executeScript("""
                        const rows = [...document.querySelectorAll('#cpes tbody tr[data-cpe]')];
                        return {
                          ids: rows.map(r => r.getAttribute('data-cpe')),
                          open: rows.map(r => Number(r.getAttribute('data-connections'))),
                          shown: !document.getElementById('cpes-section').hidden
                        };""");
                @SuppressWarnings("unchecked")
                List<String> ids = (List<String>) table.get("ids");
                @SuppressWarnings("unchecked")
                List<Number> open = (List<Number>) table.get("open");
                assertEquals(Boolean.TRUE, table.get("shown"), "the table shows on a concentrator");
                assertTrue(ids.size() >= 2 && ids.contains(secondCpe), "rows: " + ids);
                assertTrue(open.get(ids.indexOf(secondCpe)).intValue() >= 1, "the second cpe's open connection");
                assertTrue(open.stream().filter(n -> n.intValue() >= 1).count() >= 2,
                        "both cpes have a connection open: " + open);

                String json = pair.get(pair.concentratorAdmin, "/api/v1/status", null).body();
                assertTrue(json.contains("\"cpes\":[") && json.contains("\"id\":\"" + secondCpe
                        + "\",\"identifiedBy\":\"address\""), json);
                screenshot(browser, "status-page-concentrator.png");

                browser.get(pair.cpeAdmin.baseUri() + "/#token=" + RunningAppliances.TOKEN);
                wait.until(b -> b.findElement(By.id("live-text")).getText().startsWith("live"));
                assertTrue(browser.findElement(By.id("cpes-section")).getDomAttribute("hidden") != null,
                        "a cpe has no per-cpe table");
            } finally {
                browser.quit();
            }
        }
    }

    /** Waits for {@code condition}; on a timeout, fails with what the concentrator's API says instead. */
    private void untilOrExplain(WebDriverWait wait, Function<WebDriver, Boolean> condition) throws Exception {
        try {
            wait.until(condition);
        } catch (TimeoutException e) {
            fail("the table never showed it; the concentrator's status: "
                    + pair.get(pair.concentratorAdmin, "/api/v1/status", null).body(), e);
        }
    }

    /** Clicks what the selector finds, finding it again if a poll re-rendered the table in between. */
    private static void click(WebDriverWait wait, String selector) {
        wait.until(b -> {
            b.findElement(By.cssSelector(selector)).click();
            return true;
        });
    }

    /** Saves to target/NAME, and under the directory in {@code hybridproxy.screenshots} (the README's pictures). */
    private static void screenshot(WebDriver browser, String name) throws Exception {
        File shot = ((ChromeDriver) browser).getScreenshotAs(OutputType.FILE);
        Path target = Path.of("target", name);
        Files.copy(shot.toPath(), target, StandardCopyOption.REPLACE_EXISTING);
        String docs = System.getProperty("hybridproxy.screenshots");
        if (docs != null) {
            Files.copy(shot.toPath(), Path.of(docs, name), StandardCopyOption.REPLACE_EXISTING);
        }
        assertTrue(Files.size(target) > 10_000, name + " looks empty");
    }

    @Test
    @Order(1)
    void thePageShowsLiveFiguresForEveryUplink() throws Exception {
        WebDriver browser = browser();
        try {
            browser.get(pair.cpeAdmin.baseUri() + "/#token=" + RunningAppliances.TOKEN);
            WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(20));
            // The page re-renders its tables on every poll: an element found before a poll is stale after it.
            wait.ignoring(StaleElementReferenceException.class);
            wait.until(b -> !b.findElements(By.cssSelector("#uplinks tr[data-uplink='lte']")).isEmpty());
            assertFalse(browser.getCurrentUrl().contains("token"), "the token must leave the address bar");

            long first = totalBytes(browser);
            wait.until(b -> totalBytes(b) > first + CHUNK);
            // Rates need two samples; then both uplinks show a throughput and an RTT.
            wait.until(b -> b.findElement(By.cssSelector("#uplinks tr[data-uplink='dsl'] .rate-send")).getText()
                    .endsWith("/s"));
            // One snapshot taken by the page's own thread, so no re-render can happen between the reads.
            @SuppressWarnings("unchecked")
            Map<String, Object> page = (Map<String, Object>) ((JavascriptExecutor) browser).executeScript("""
                    const dsl = document.querySelector("#uplinks tr[data-uplink='dsl']");
                    return {
                      rtt: dsl.querySelector('.rtt').textContent,
                      dsl: dsl.textContent,
                      sent: dsl.getAttribute('data-bytes-sent'),
                      lteSubflow: [...document.querySelectorAll('#subflows tbody tr[data-uplink]')]
                          .some(r => r.getAttribute('data-uplink') === 'lte'),
                      live: document.getElementById('live-text').textContent,
                      error: document.getElementById('error').textContent
                    };""");
            assertTrue(((String) page.get("rtt")).endsWith("ms"), String.valueOf(page.get("dsl")));
            assertEquals(Boolean.TRUE, page.get("lteSubflow"), "no lte subflow listed");
            assertTrue(((String) page.get("live")).startsWith("live"), String.valueOf(page.get("live")));
            assertEquals("", page.get("error"));

            long sentBefore = Long.parseLong((String) page.get("sent"));
            wait.until(b -> Long.parseLong(b.findElement(By.cssSelector("#uplinks tr[data-uplink='dsl']"))
                    .getDomAttribute("data-bytes-sent")) > sentBefore);

        } finally {
            browser.quit();
        }
    }

    private static long totalBytes(WebDriver browser) {
        String value = browser.findElement(By.id("total-bytes")).getDomAttribute("data-bytes");
        return value == null ? -1 : Long.parseLong(value);
    }
}
