package net.hybridproxy.loadtest.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * A {@code perf stat -x ,} counting events of one process while a measurement runs: started before it, stopped after
 * it with SIGINT, which makes perf print one "count,,event,..." line per event on stderr. A machine without perf, or
 * without permission to count, gives no counts rather than a failed run.
 */
final class PerfStat {
    private final Process perf;

    private PerfStat(Process perf) {
        this.perf = perf;
    }

    /** Starts counting {@code events} of process {@code pid}. */
    static PerfStat start(long pid, String events) {
        try {
            return new PerfStat(new ProcessBuilder(List.of("perf", "stat", "-x", ",", "-e", events, "-p",
                    String.valueOf(pid))).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
        } catch (IOException e) {
            return new PerfStat(null);
        }
    }

    /** Stops counting; each event's count, empty if perf did not run or printed nothing in time. */
    Map<String, Long> stop(int waitSeconds) {
        Map<String, Long> counts = new TreeMap<>();
        if (perf == null) {
            return counts;
        }
        try {
            new ProcessBuilder("kill", "-INT", String.valueOf(perf.pid())).start().waitFor(5, TimeUnit.SECONDS);
            if (!perf.waitFor(waitSeconds, TimeUnit.SECONDS)) {
                perf.destroyForcibly();
                return counts;
            }
            String err = new String(perf.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            for (String line : err.split("\n")) {
                String[] f = line.split(",");
                if (f.length > 2) {
                    try {
                        counts.put(f[2], Long.parseLong(f[0]));
                    } catch (NumberFormatException notCounted) {
                        // "<not counted>" or "<not supported>"
                    }
                }
            }
        } catch (IOException | InterruptedException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
        }
        return counts;
    }
}
