package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.ExecResult;
import net.hybridproxy.loadtest.lab.Netns;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The userspace engine's own counters (its MIB and the scheduler's decisions per uplink) as the appliances' admin
 * servers publish them at {@code /metrics}, read inside the cpe's and the concentrator's namespaces before and after
 * a measured download. Their growth says which mechanism fired: stalls declared, reinjections, opportunistic
 * retransmissions, penalisations, late-path reinjections, how many DATA frames each uplink got and why, and how long
 * streams waited (for the head, for the peer's window, for send-buffer room; kept as milliseconds). Other
 * systems publish none of these; their rows carry no counters.
 */
final class EngineCounters {

    /** The metric families kept, each sample named by its labels' values. */
    private static final List<String> FAMILIES = List.of("hybridproxy_userspace_events_total",
            "hybridproxy_userspace_bytes_total", "hybridproxy_scheduler_decisions_total",
            "hybridproxy_uplink_reinjected_bytes_total", "hybridproxy_userspace_path_judgements_total",
            "hybridproxy_userspace_wait_seconds_total");

    /**
     * What decides a new connection's first byte on the kernel engine: whether the cpe's warm pool had a ready
     * connection (a miss pays a whole MPTCP handshake before the Convert request), what closed ready connections, and
     * whether the concentrator refused any. Read live (the appliances compute them at each scrape).
     */
    static final List<String> SETUP_FAMILIES = List.of("hybridproxy_cpe_warm_pool_takes_total",
            "hybridproxy_cpe_warm_pool_closes_total", "hybridproxy_cpe_warm_pool_connect_failures_total",
            "hybridproxy_admission_refusals_total");

    /**
     * The appliances publish the engine's counters once per admin sample interval (5 s by default, which the lab
     * keeps: it measures what users run); a read this long after the traffic it should cover has them all.
     */
    private static final Duration PUBLISHED_WITHIN = Duration.ofMillis(5_500);

    private EngineCounters() {
    }

    /**
     * {@link #read} once everything counted so far is published: empty at once when the appliances publish none of
     * these counters, else after {@link #PUBLISHED_WITHIN}.
     */
    static Map<String, Long> settled(Netns cpe, Netns conc) {
        if (read(cpe, conc).isEmpty()) {
            return Map.of();
        }
        try {
            Thread.sleep(PUBLISHED_WITHIN);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Map.of();
        }
        return read(cpe, conc);
    }

    /** Every kept sample of both appliances, keyed {@code cpe|conc <family> <label values>}; empty if none answer. */
    static Map<String, Long> read(Netns cpe, Netns conc) {
        return read(cpe, conc, FAMILIES);
    }

    /** Every sample of {@code families} both appliances publish, keyed as {@link #read(Netns, Netns)} does. */
    static Map<String, Long> read(Netns cpe, Netns conc, List<String> families) {
        Map<String, Long> out = new TreeMap<>();
        read("cpe", cpe, families, out);
        read("conc", conc, families, out);
        return out;
    }

    private static void read(String side, Netns ns, List<String> families, Map<String, Long> out) {
        ExecResult r = ns.tryExec(Duration.ofSeconds(10), "curl", "-sf", "--max-time", "5",
                "http://127.0.0.1:9190/metrics");
        if (!r.ok()) {
            return;
        }
        parse(side, r.stdout(), families, out);
    }

    static void parse(String side, String exposition, Map<String, Long> out) {
        parse(side, exposition, FAMILIES, out);
    }

    static void parse(String side, String exposition, List<String> families, Map<String, Long> out) {
        for (String line : exposition.split("\n")) {
            int brace = line.indexOf('{');
            int space = line.lastIndexOf(' ');
            if (line.startsWith("#") || brace < 0 || space < brace) {
                continue;
            }
            String family = line.substring(0, brace);
            if (!families.contains(family)) {
                continue;
            }
            StringBuilder labels = new StringBuilder();
            String body = line.substring(brace + 1, line.lastIndexOf('}'));
            for (String pair : body.split(",")) {
                int eq = pair.indexOf('=');
                if (eq > 0 && !pair.startsWith("role") && !pair.startsWith("instance")) {
                    labels.append(labels.isEmpty() ? "" : " ").append(pair.substring(eq + 1).replace("\"", ""));
                }
            }
            double value = Double.parseDouble(line.substring(space + 1));
            String name = family.replace("hybridproxy_", "").replace("_total", "");
            if (name.endsWith("_seconds")) {
                // A time in seconds (a double) is kept as whole milliseconds, named so.
                name = name.substring(0, name.length() - "_seconds".length()) + "_ms";
                value = Math.round(value * 1000);
            }
            out.merge(side + " " + name + " " + labels, (long) value, Long::sum);
        }
    }

    /** What grew from {@code before} to {@code after}, leaving out what did not; null when nothing was read. */
    static Map<String, Long> growth(Map<String, Long> before, Map<String, Long> after) {
        if (after.isEmpty()) {
            return null;
        }
        Map<String, Long> out = new TreeMap<>();
        after.forEach((key, value) -> {
            long grown = value - before.getOrDefault(key, 0L);
            if (grown != 0) {
                out.put(key, grown);
            }
        });
        return out;
    }
}
