package net.hybridproxy.proxy.testing;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Prometheus's own linter (Debian package prometheus), run over real scrapes by the tests that take them. */
public final class Promtool {
    private Promtool() {
    }

    /** Runs {@code promtool check metrics} over a scrape; returns its findings (empty when clean). */
    public static String checkMetrics(String scrape) throws Exception {
        Process p = new ProcessBuilder("promtool", "check", "metrics").redirectErrorStream(true).start();
        try (OutputStream in = p.getOutputStream()) {
            in.write(scrape.getBytes(StandardCharsets.UTF_8));
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("promtool hung");
        }
        return p.exitValue() == 0 ? out.strip() : "exit " + p.exitValue() + ": " + out.strip();
    }

    public static boolean available() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, "promtool"))) {
                return true;
            }
        }
        return false;
    }
}
