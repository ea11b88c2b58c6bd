package net.hybridproxy.proxy.logging;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The whole path: System.Logger calls, the configured level and format, stderr. */
class LoggingTest {
    private final PrintStream savedErr = System.err;

    @AfterEach
    void restore() {
        System.setErr(savedErr);
        Logging.configure(LogSettings.DEFAULTS);
    }

    private String captured(LogSettings settings, Runnable logging) {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buffer, true, StandardCharsets.UTF_8));
        Logging.configure(settings); // the console handler takes System.err as it is now
        logging.run();
        System.setErr(savedErr);
        return buffer.toString(StandardCharsets.UTF_8);
    }

    @Test
    void theLevelFiltersAndJsonIsWrittenOneObjectPerLine() {
        String out = captured(new LogSettings(LogLevel.WARN, LogFormat.JSON, 20), () -> {
            System.Logger log = System.getLogger("hybridproxy.test");
            log.log(System.Logger.Level.INFO, "not shown");
            log.log(System.Logger.Level.WARNING, "uplink lte down", LogFields.of("uplink", "lte"));
        });
        List<String> lines = out.lines().toList();
        assertEquals(1, lines.size(), out);
        assertTrue(lines.get(0).startsWith("{\"time\":\""), out);
        assertTrue(lines.get(0).contains("\"level\":\"WARN\",\"logger\":\"hybridproxy.test\","
                + "\"message\":\"uplink lte down\""), out);
        assertTrue(lines.get(0).endsWith("\"uplink\":\"lte\"}"), out);
    }

    @Test
    void closeLinesAreRateLimitedAndTheNextLineCountsWhatWasLeftOut() {
        long start = System.nanoTime();
        String out = captured(new LogSettings(LogLevel.INFO, LogFormat.TEXT, 5), () -> {
            for (int i = 0; i < 12; i++) {
                ConnectionLog.closed("198.18.1.2:" + (40000 + i) + " -> 198.18.3.2:80", "closed", i, 2 * i,
                        1_500_000_000L, start);
            }
            long later = start + TimeUnit.MILLISECONDS.toNanos(400); // refills two of five tokens
            ConnectionLog.closed("198.18.1.2:50000 -> 198.18.3.2:80", "reset by server side", 1, 2, 3_000_000L,
                    later);
        });
        List<String> lines = out.lines().toList();
        assertEquals(6, lines.size(), out);
        assertTrue(lines.get(0).endsWith("INFO  hybridproxy.connection: connection closed"
                + " connection=\"198.18.1.2:40000 -> 198.18.3.2:80\" reason=closed bytes_up=0 bytes_down=0"
                + " duration_ms=1500"), out);
        assertTrue(lines.get(5).endsWith("reason=\"reset by server side\" bytes_up=1 bytes_down=2 duration_ms=3"
                + " suppressed=7"), out);
    }

    @Test
    void offTurnsCloseLinesOff() {
        String out = captured(new LogSettings(LogLevel.INFO, LogFormat.TEXT, 0),
                () -> ConnectionLog.closed("a -> b", "closed", 1, 1, 1));
        assertEquals("", out);
    }

    @Test
    void aMisspeltLevelInTheEnvironmentStopsTheCliWithOneLineAndExitTwo() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder builder = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                "net.hybridproxy.proxy.cli.Main", "check").redirectErrorStream(true);
        builder.environment().put("HYBRIDPROXY_LOG", "verbose");
        Process p = builder.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(2, p.exitValue(), output);
        assertEquals("hybridproxy: HYBRIDPROXY_LOG: 'verbose' is not one of debug, info, warn or error",
                output.strip(), output);
    }
}
