package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.ExecResult;
import net.hybridproxy.loadtest.lab.Netns;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the kernel counted in the cpe's and the concentrator's namespaces over the 32-client setup-rate run, the same
 * for every system: bytes over each uplink at the cpe, MPTCP handshakes and joins (MPTcpExt), TCP connections opened
 * and segments retransmitted (Tcp, TcpExt). They say what a scenario's links did to the new connections: whether the
 * LTE subflows joined and carried anything, and whether losses cost retransmission timeouts, where the rate alone
 * only says that one system was slower.
 */
final class SetupRunCounters {
    /** Kept counters per namespace, by their {@code /proc/net/netstat} and {@code /proc/net/snmp} names. */
    private static final List<String> CPE_MIB = List.of("MPCapableSYNTX", "MPCapableFallbackSYNACK", "MPJoinSynTx",
            "MPJoinSynAckRx", "ActiveOpens", "PassiveOpens", "RetransSegs", "TCPTimeouts");
    private static final List<String> CONC_MIB = List.of("MPCapableSYNRX", "MPJoinSynRx", "ActiveOpens",
            "RetransSegs", "TCPTimeouts");
    private static final String READ_MIB = "cat /proc/net/netstat /proc/net/snmp";

    private SetupRunCounters() {
    }

    /** A snapshot: keys {@code cpe|conc <counter>} and {@code cpe dsl|lte bytes} (received plus sent). */
    static Map<String, Long> read(Netns cpe, Netns conc) {
        Map<String, Long> out = new TreeMap<>();
        ExecResult c = cpe.tryExec(Duration.ofSeconds(10), "sh", "-c",
                "grep -E '^ *(dsl|lte):' /proc/net/dev; " + READ_MIB);
        if (c.ok()) {
            parseInterfaces(c.stdout(), out);
            parseMib("cpe", c.stdout(), CPE_MIB, out);
        }
        ExecResult s = conc.tryExec(Duration.ofSeconds(10), "sh", "-c", READ_MIB);
        if (s.ok()) {
            parseMib("conc", s.stdout(), CONC_MIB, out);
        }
        return out;
    }

    /** {@code /proc/net/dev} lines of the uplinks: receive bytes are the first field, send bytes the ninth. */
    static void parseInterfaces(String text, Map<String, Long> out) {
        for (String line : text.split("\n")) {
            int colon = line.indexOf(':');
            String name = colon < 0 ? "" : line.substring(0, colon).strip();
            if (!name.equals("dsl") && !name.equals("lte")) {
                continue;
            }
            String[] f = line.substring(colon + 1).strip().split("\\s+");
            out.put("cpe " + name + " bytes", Long.parseLong(f[0]) + Long.parseLong(f[8]));
        }
    }

    /** The groups of {@code /proc/net/netstat} and {@code /proc/net/snmp} the kept counters are in. */
    private static final List<String> MIB_GROUPS = List.of("MPTcpExt", "TcpExt", "Tcp");

    /** The counters named in {@code keep}, of the MIB groups in {@code text}, as {@code <side> <counter>}. */
    static void parseMib(String side, String text, List<String> keep, Map<String, Long> out) {
        for (String group : MIB_GROUPS) {
            Netns.parseNetstat(text, group).forEach((name, value) -> {
                if (keep.contains(name)) {
                    out.put(side + " " + name, value);
                }
            });
        }
    }
}
