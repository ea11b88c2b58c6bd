package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.bench.Systems.Running;
import net.hybridproxy.loadtest.lab.ExecResult;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.loadtest.lab.emu.EmulatorStats;
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

    /**
     * JVM options for the load server when tracing: its safepoints and collections with their wall-clock time, so a
     * pause of the server's own JVM can be told from a wait in the network (the server is the sender of every
     * download, so a pause there looks like a stall of the system under test).
     */
    static java.util.List<String> loadServerJvmOptions(int port) {
        if (DIR == null) {
            return java.util.List.of();
        }
        try {
            Files.createDirectories(DIR);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return java.util.List.of("-Xlog:safepoint,gc:file=" + DIR.resolve("loadserver-" + port + "-jvm.log")
                + ":timemillis,uptimemillis");
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
        Thread emulators = Thread.ofVirtual().start(() -> sampleEmulators(lab, download));
        Thread.ofVirtual().start(() -> sampleEarly(lab.conc(), "conc", download));
        Thread.ofVirtual().start(() -> sampleEarly(lab.cpe(), "cpe", download));
        Thread sampler = Thread.ofVirtual().start(() -> {
            try {
                for (int i = 0; !Thread.currentThread().isInterrupted(); i++) {
                    Thread.sleep(250);
                    for (Netns ns : new Netns[] {lab.conc(), lab.cpe(), lab.server()}) {
                        // -o: the retransmission, persist (zero-window probe) and keepalive timers with their
                        // back-off count, which tell a sender probing a closed window from one with nothing to send.
                        ExecResult ss = ns.tryExec(Duration.ofSeconds(10), "ss", "-tniMmo");
                        String role = ns == lab.cpe() ? "cpe" : ns == lab.server() ? "server" : "conc";
                        Files.writeString(DIR.resolve(String.format(Locale.ROOT, "%03d-during-%02d-%s.txt", download,
                                i, role)), "## uptime " + System.nanoTime() / 1_000_000 + "\n## wall "
                                + System.currentTimeMillis() + "\n## ss\n" + ss.stdout());
                    }
                }
            } catch (InterruptedException | IOException | RuntimeException e) {
                // Stopped, or the directory went away: the trace just ends.
            }
        });
        return () -> {
            sampler.interrupt();
            emulators.interrupt();
            // Not the early samplers: they end on their own after EARLY_SAMPLES, and an interrupted one loses its
            // output (a process's output is read when it exits).
        };
    }

    /**
     * Samples {@link #sampleEarly} takes per namespace and download: enough to cover the load client's JVM start
     * and the download's first second (about 3 s on an idle machine, longer under load).
     */
    private static final int EARLY_SAMPLES = 300;

    /**
     * {@code ss -tniM} from the start of a download's client, {@value #EARLY_SAMPLES} samples 8 ms of sleep apart,
     * each headed by {@code /proc/uptime} (the load client's timeline start is on that clock): the first round trips'
     * congestion windows, send and receive windows, queues and limits of every subflow and of the concentrator's
     * server-side socket. One shell in the namespace runs the loop, so a sample costs a {@code cat} and an {@code ss}
     * there, not a namespace entry from here; still, the samples were 10 ms apart only on an idle machine (20–150 ms at
     * load 2–4).
     */
    private static void sampleEarly(Netns ns, String role, int download) {
        String loop = "i=0; while [ $i -lt " + EARLY_SAMPLES + " ]; do echo \"## uptime $(cat /proc/uptime)\";"
                + " ss -tniM state established; i=$((i+1)); sleep 0.008; done";
        ExecResult r = ns.tryExec(Duration.ofSeconds(30), "sh", "-c", loop);
        try {
            Files.writeString(DIR.resolve(String.format(Locale.ROOT, "%03d-early-%s.txt", download, role)), r.stdout());
        } catch (IOException | RuntimeException e) {
            // The directory went away: the trace just ends.
        }
    }

    /**
     * Every 100 ms, one line per uplink direction with the TUN emulator's counters since the previous line (packets
     * admitted, dropped by the emulated queue, by random loss, by a full ring) and its own lateness, so that a stall
     * in the download's 100 ms timeline can be lined up with the queue drops around it. Nothing with netem or on
     * unemulated links.
     */
    private static void sampleEmulators(HybridAccessLab lab, int download) {
        Path file = DIR.resolve(String.format(Locale.ROOT, "%03d-emulators.txt", download));
        try (var out = Files.newBufferedWriter(file)) {
            out.write("# wall-clock ms at start " + System.currentTimeMillis() + "\n");
            out.write("# ms name admitted written lossDrops queueDrops ringDrops lateUsP99 lateUsMax (deltas per row)\n");
            long start = System.nanoTime();
            java.util.Map<String, EmulatorStats.DirectionStats> previous = new java.util.HashMap<>();
            while (!Thread.currentThread().isInterrupted()) {
                for (HybridAccessLab.Link link : new HybridAccessLab.Link[] {HybridAccessLab.Link.DSL,
                        HybridAccessLab.Link.LTE}) {
                    var stats = lab.emulatorStats(link);
                    if (stats.isEmpty()) {
                        return;
                    }
                    long ms = (System.nanoTime() - start) / 1_000_000;
                    for (EmulatorStats.DirectionStats d : new EmulatorStats.DirectionStats[] {stats.get().up(),
                            stats.get().down()}) {
                        EmulatorStats.DirectionStats p = previous.put(d.name(), d);
                        if (p != null) {
                            out.write(String.format(Locale.ROOT, "%d %s %d %d %d %d %d %d %d%n", ms, d.name(),
                                    d.admitted() - p.admitted(), d.written() - p.written(),
                                    d.lossDrops() - p.lossDrops(), d.queueDrops() - p.queueDrops(),
                                    d.ringDrops() - p.ringDrops(), d.lateUsP99(), d.lateUsMax()));
                        }
                    }
                }
                out.flush();
                Thread.sleep(100);
            }
        } catch (InterruptedException | IOException | RuntimeException e) {
            // Stopped, or the lab is going away: the trace just ends.
        }
    }

    private static void write(Path file, Netns ns) throws IOException {
        Duration timeout = Duration.ofSeconds(10);
        StringBuilder out = new StringBuilder();
        out.append("## uptime ").append(ns.tryExec(timeout, "cat", "/proc/uptime").stdout());
        ExecResult ss = ns.tryExec(timeout, "ss", "-tniM");
        out.append("## ss\n").append(ss.stdout());
        out.append("## netstat\n").append(ns.tryExec(timeout, "cat", "/proc/net/netstat").stdout());
        out.append("## snmp\n").append(ns.tryExec(timeout, "cat", "/proc/net/snmp").stdout());
        // The uplink devices' own drop counters: a TUN device whose reader (the emulator) falls behind drops on
        // transmit once its queue is full, before the emulated link ever sees the packet.
        // What `hybridproxy check` recommends, as this namespace has it during the download.
        out.append("## sysctl\n").append(ns.tryExec(timeout, "sysctl", "net.ipv4.tcp_fastopen",
                "net.ipv4.conf.all.rp_filter", "net.mptcp.enabled", "net.mptcp.path_manager",
                "net.ipv4.tcp_congestion_control", "net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_rmem",
                "net.ipv4.tcp_wmem").stdout());
        out.append("## links\n").append(ns.tryExec(timeout, "ip", "-s", "link").stdout());
        Files.writeString(file, out);
    }

    /**
     * The download's whole timeline (bytes per bucket from the client's first connect) next to the other traces of
     * the same download, to find where its stalls were.
     */
    static void timeline(BulkResult bulk) {
        if (DIR == null) {
            return;
        }
        // The start on /proc/uptime's clock, which the samples' "## uptime" lines use, to find a stall among them.
        StringBuilder out = new StringBuilder("# bucket_ms " + bulk.timelineMs() + ", Mb/s per bucket, start uptime_ms "
                + Math.round(bulk.startUptimeSeconds() * 1000) + "\n");
        long[] all = bulk.timelineBytes();
        for (int i = 0; i < all.length; i++) {
            out.append(i * bulk.timelineMs()).append(' ')
                    .append(String.format(Locale.ROOT, "%.1f", mbps(all[i], bulk.timelineMs()))).append('\n');
        }
        try {
            Files.writeString(DIR.resolve(String.format(Locale.ROOT, "%03d-timeline.txt", sequence)), out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The mean goodput over the {@value #RAMP_SECONDS} s after the download's first byte, Mbit/s. */
    static double firstSecondsMbps(BulkResult bulk) {
        long[] all = bulk.timelineBytes();
        int firstByte = firstByteBucket(all);
        int rampBuckets = (int) Math.min(all.length - firstByte, RAMP_SECONDS * 1000 / bulk.timelineMs());
        long early = 0;
        for (int i = firstByte; i < firstByte + rampBuckets; i++) {
            early += all[i];
        }
        return mbps(early, rampBuckets * bulk.timelineMs());
    }

    /** From the client's first connect to the download's first byte, ms (to the timeline's resolution). */
    static long firstByteMs(BulkResult bulk) {
        return (long) firstByteBucket(bulk.timelineBytes()) * bulk.timelineMs();
    }

    /**
     * The download's verified bytes over the time from its first byte to its last: what the path carried once the
     * transfer had begun. The wait for the first byte, which on a loaded machine is seconds of the load client's and
     * the proxies' scheduling for every system alike, is not in it (it is {@link #firstByteMs}).
     */
    static double goodputFromFirstByteMbps(BulkResult bulk) {
        double seconds = bulk.seconds() - firstByteMs(bulk) / 1000.0;
        return seconds <= 0 ? 0 : bulk.verifiedBytes() * 8 / seconds / 1e6;
    }

    /** "trace #n, first 2 s x Mb/s, then y Mb/s, per 100 ms [..]" for the progress line. */
    static String ramp(BulkResult bulk) {
        long[] all = bulk.timelineBytes();
        int firstByte = firstByteBucket(all);
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

    /**
     * "first byte at x ms; per 10 ms from its bucket [..] kB": the first {@code millis} of the download at the early
     * timeline's grain, from the bucket of its first byte; empty when the result has no early timeline.
     */
    static String earlyRamp(BulkResult bulk, int millis) {
        long[] early = bulk.earlyTimelineBytes();
        if (early == null || bulk.earlyTimelineMs() <= 0) {
            return "";
        }
        int firstByte = firstByteBucket(early);
        double firstByteMs = bulk.streams().stream().mapToDouble(BulkResult.BulkStream::ttfbMs).filter(t -> t > 0)
                .min().orElse(firstByte * bulk.earlyTimelineMs());
        StringBuilder kB = new StringBuilder();
        for (int i = firstByte; i < Math.min(early.length, firstByte + millis / bulk.earlyTimelineMs()); i++) {
            kB.append(i == firstByte ? "" : " ").append(Math.round(early[i] / 1000.0));
        }
        return String.format(Locale.ROOT, "first byte at %.1f ms, per %d ms from its bucket [%s] kB", firstByteMs,
                bulk.earlyTimelineMs(), kB);
    }

    /** The first timeline bucket with a byte in it (the last one if none has). */
    private static int firstByteBucket(long[] timeline) {
        int first = 0;
        while (first < timeline.length - 1 && timeline[first] == 0) {
            first++;
        }
        return first;
    }

    private static double mbps(long bytes, long millis) {
        return millis == 0 ? 0 : bytes * 8.0 / millis / 1000;
    }
}
