package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.ExecResult;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
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
 * only says that one system was slower. The load client's and server's namespaces give the counters that say why
 * one connection of a round waited for a timer: a SYN retransmitted ({@code TCPSynRetrans}, the client's 1 s initial
 * timeout), a SYN or an accept dropped at a full queue ({@code ListenOverflows}, {@code ListenDrops},
 * {@code TCPReqQFullDrop}), a timeout on data.
 */
final class SetupRunCounters {
    /** Kept counters per namespace, by their {@code /proc/net/netstat} and {@code /proc/net/snmp} names. */
    private static final List<String> CPE_MIB = List.of("MPCapableSYNTX", "MPCapableFallbackSYNACK", "MPJoinSynTx",
            "MPJoinSynAckRx", "ActiveOpens", "PassiveOpens", "RetransSegs", "TCPTimeouts");
    private static final List<String> CONC_MIB = List.of("MPCapableSYNRX", "MPJoinSynRx", "ActiveOpens",
            "RetransSegs", "TCPTimeouts");
    /** Kept in every namespace: what makes a new connection wait for a timer. */
    static final List<String> WAIT_MIB = List.of("TCPSynRetrans", "ListenOverflows", "ListenDrops",
            "TCPReqQFullDrop", "TCPTimeouts", "RetransSegs", "TCPChallengeACK", "TCPAbortOnData");
    private static final String READ_MIB = "cat /proc/net/netstat /proc/net/snmp";

    private SetupRunCounters() {
    }

    /**
     * A snapshot: keys {@code client|cpe|conc|server <counter>} and {@code cpe dsl|lte bytes} (received plus sent).
     */
    static Map<String, Long> read(HybridAccessLab lab) {
        return read(lab.client(), lab.cpe(), lab.conc(), lab.server());
    }

    private static Map<String, Long> read(Netns client, Netns cpe, Netns conc, Netns server) {
        Map<String, Long> out = new TreeMap<>();
        ExecResult c = cpe.tryExec(Duration.ofSeconds(10), "sh", "-c",
                "grep -E '^ *(dsl|lte):' /proc/net/dev; " + READ_MIB);
        if (c.ok()) {
            parseInterfaces(c.stdout(), out);
            parseMib("cpe", c.stdout(), CPE_MIB, out);
            parseMib("cpe", c.stdout(), WAIT_MIB, out);
        }
        readMib(conc, "conc", CONC_MIB, out);
        readMib(client, "client", List.of(), out);
        readMib(server, "server", List.of(), out);
        return out;
    }

    private static void readMib(Netns ns, String side, List<String> keep, Map<String, Long> out) {
        ExecResult r = ns.tryExec(Duration.ofSeconds(10), "sh", "-c", READ_MIB);
        if (r.ok()) {
            parseMib(side, r.stdout(), keep, out);
            parseMib(side, r.stdout(), WAIT_MIB, out);
        }
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
