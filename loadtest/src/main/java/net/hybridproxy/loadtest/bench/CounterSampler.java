package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Netns;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Samples the cpe's uplink byte counters every 100 ms with a shell loop inside the cpe namespace (its
 * {@code /proc/net/dev} describes that namespace), stamped with {@code /proc/uptime}, one clock shared by all
 * namespaces, so the timeline lines up with the load generator's and with fault times.
 */
final class CounterSampler {
    record Sample(double uptime, long dslRx, long dslTx, long lteRx, long lteTx) {
    }

    private final LabProcess process;

    private CounterSampler(LabProcess process) {
        this.process = process;
    }

    static CounterSampler start(Netns cpe) {
        LabProcess p = cpe.start("sh", "-c",
                "while :; do echo T $(cut -d' ' -f1 /proc/uptime); grep -E '^ *(dsl|lte):' /proc/net/dev; sleep 0.1; done");
        p.awaitStdoutLine(l -> l.startsWith("T "), Duration.ofSeconds(5));
        return new CounterSampler(p);
    }

    List<Sample> stop() {
        List<String> lines = process.stdoutLines();
        process.stop(Duration.ZERO);
        List<Sample> samples = parse(lines);
        if (samples.size() < 2) {
            throw new IllegalStateException("the counter sampler produced " + samples.size() + " samples");
        }
        return samples;
    }

    /**
     * Waits until the cpe has received {@code bytes} more over both uplinks than at the first sample, so that a fault
     * lands a fixed time into the transfer itself rather than into the load client's JVM start (which took close to 2
     * s on a loaded machine). Polls the samples taken so far; false if that did not happen within {@code timeout}.
     */
    boolean awaitReceived(long bytes, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            List<Sample> samples = parse(process.stdoutLines());
            if (samples.size() >= 2) {
                Sample first = samples.getFirst();
                Sample last = samples.getLast();
                if (last.dslRx() - first.dslRx() + last.lteRx() - first.lteRx() >= bytes) {
                    return true;
                }
            }
            Thread.sleep(20);
        }
        return false;
    }

    private static List<Sample> parse(List<String> lines) {
        List<Sample> samples = new ArrayList<>();
        double t = -1;
        long[] v = new long[4];
        int seen = 0;
        for (String line : lines) {
            String l = line.strip();
            if (l.startsWith("T ")) {
                t = Double.parseDouble(l.substring(2));
                seen = 0;
                continue;
            }
            int colon = l.indexOf(':');
            if (colon < 0 || t < 0) {
                continue;
            }
            String[] f = l.substring(colon + 1).strip().split("\\s+");
            int base = l.startsWith("dsl") ? 0 : 2;
            v[base] = Long.parseLong(f[0]);
            v[base + 1] = Long.parseLong(f[8]);
            if (++seen == 2) {
                samples.add(new Sample(t, v[0], v[1], v[2], v[3]));
            }
        }
        return samples;
    }

    /** Download rate per uplink (received at the cpe) between samples, in Mbit/s, against seconds from {@code zero}. */
    static UplinkTimeline timeline(List<Sample> samples, double zero) {
        List<Double> t = new ArrayList<>();
        List<Double> dsl = new ArrayList<>();
        List<Double> lte = new ArrayList<>();
        for (int i = 1; i < samples.size(); i++) {
            Sample a = samples.get(i - 1);
            Sample b = samples.get(i);
            double dt = b.uptime() - a.uptime();
            if (dt <= 0) {
                continue;
            }
            t.add(BenchmarkRunner.round(b.uptime() - zero, 2));
            dsl.add(BenchmarkRunner.round((b.dslRx() - a.dslRx()) * 8 / dt / 1e6, 2));
            lte.add(BenchmarkRunner.round((b.lteRx() - a.lteRx()) * 8 / dt / 1e6, 2));
        }
        return new UplinkTimeline(t, dsl, lte);
    }
}
