package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.bench.Systems.Running;
import net.hybridproxy.loadtest.lab.ExecResult;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.loadtest.loadgen.BulkResult;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;

/**
 * Diagnostics for the stall series, for finding out why one download ramps up slower than another: each download's
 * ramp (mean goodput of its first 2 s against the rest) on the series' progress line, and, when the environment
 * variable {@value #DIR_VARIABLE} names a directory, the socket state ({@code ss -tniM}: every subflow's cwnd,
 * ssthresh, RTT, receive space) and the kernel's MIB counters ({@code /proc/net/netstat}, {@code /proc/net/snmp},
 * absolute, to be diffed) in the cpe and the concentrator just before and just after each download.
 */
final class SeriesTrace {
    static final String DIR_VARIABLE = "HYBRIDPROXY_BENCH_TRACE";
    private static final Path DIR = System.getenv(DIR_VARIABLE) == null ? null : Path.of(System.getenv(DIR_VARIABLE));
    private static final double RAMP_SECONDS = 2;
    private static int sequence;

    private SeriesTrace() {
    }

    /** Writes the snapshot of the next download ({@code phase} "before") or the last one ("after") if tracing is on. */
    static void snapshot(HybridAccessLab lab, Running running, String phase) {
        if (DIR == null) {
            return;
        }
        if (phase.equals("before")) {
            sequence++;
        }
        String name = String.format(Locale.ROOT, "%03d-%s-%s", sequence, running.target().replace(':', '_'), phase);
        try {
            Files.createDirectories(DIR);
            write(DIR.resolve(name + "-cpe.txt"), lab.cpe());
            write(DIR.resolve(name + "-conc.txt"), lab.conc());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * While a download runs: {@code ss -tniMm} in the concentrator, the cpe and the server every 250 ms (tracing on
     * only), so that the connection that carried it can be found, and its state at hand-over looked up in the
     * "before" snapshot.
     */
    static Runnable during(HybridAccessLab lab) {
        if (DIR == null) {
            return () -> { };
        }
        int download = sequence;
        Thread sampler = Thread.ofVirtual().start(() -> {
            try {
                for (int i = 0; !Thread.currentThread().isInterrupted(); i++) {
                    Thread.sleep(250);
                    for (Netns ns : new Netns[] {lab.conc(), lab.cpe(), lab.server()}) {
                        ExecResult ss = ns.tryExec(Duration.ofSeconds(10), "ss", "-tniMm");
                        String role = ns == lab.cpe() ? "cpe" : ns == lab.server() ? "server" : "conc";
                        Files.writeString(DIR.resolve(String.format(Locale.ROOT, "%03d-during-%02d-%s.txt", download,
                                i, role)), "## uptime " + System.nanoTime() / 1_000_000 + "\n## ss\n" + ss.stdout());
                    }
                }
            } catch (InterruptedException | IOException | RuntimeException e) {
                // Stopped, or the directory went away: the trace just ends.
            }
        });
        return sampler::interrupt;
    }

    private static void write(Path file, Netns ns) throws IOException {
        Duration timeout = Duration.ofSeconds(10);
        StringBuilder out = new StringBuilder();
        out.append("## uptime ").append(ns.tryExec(timeout, "cat", "/proc/uptime").stdout());
        ExecResult ss = ns.tryExec(timeout, "ss", "-tniM");
        out.append("## ss\n").append(ss.stdout());
        out.append("## netstat\n").append(ns.tryExec(timeout, "cat", "/proc/net/netstat").stdout());
        out.append("## snmp\n").append(ns.tryExec(timeout, "cat", "/proc/net/snmp").stdout());
        Files.writeString(file, out);
    }

    /** "trace #n, first 2 s x Mb/s, then y Mb/s, per 100 ms [..]" for the progress line. */
    static String ramp(BulkResult bulk) {
        long[] all = bulk.timelineBytes();
        int firstByte = 0;
        while (firstByte < all.length - 1 && all[firstByte] == 0) {
            firstByte++;
        }
        // From the first byte on: the timeline starts at the load client's first connect, which on a loaded
        // machine is up to seconds before the server's first byte.
        long[] buckets = java.util.Arrays.copyOfRange(all, firstByte, all.length);
        int rampBuckets = (int) Math.min(buckets.length, RAMP_SECONDS * 1000 / bulk.timelineMs());
        long early = 0;
        long late = 0;
        StringBuilder first = new StringBuilder();
        for (int i = 0; i < buckets.length; i++) {
            if (i < rampBuckets) {
                early += buckets[i];
                first.append(i == 0 ? "" : " ").append(Math.round(mbps(buckets[i], bulk.timelineMs())));
            } else {
                late += buckets[i];
            }
        }
        int lateBuckets = Math.max(1, buckets.length - rampBuckets);
        return String.format(Locale.ROOT, "trace #%d, first byte after %d ms, then first %.0f s %.1f Mb/s, then %.1f Mb/s, per %d ms [%s]",
                sequence, firstByte * bulk.timelineMs(), RAMP_SECONDS, mbps(early, rampBuckets * bulk.timelineMs()),
                mbps(late, lateBuckets * bulk.timelineMs()), bulk.timelineMs(), first);
    }

    private static double mbps(long bytes, long millis) {
        return millis == 0 ? 0 : bytes * 8.0 / millis / 1000;
    }
}
