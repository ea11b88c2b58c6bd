package net.hybridproxy.loadtest.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class SetupRunCountersTest {

    /** The shape of this kernel's files, shortened: header line, value line, per prefix. */
    private static final String MIB = """
            TcpExt: SyncookiesSent TCPTimeouts TCPLossProbes
            TcpExt: 0 17 4
            MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPJoinSynTx MPJoinSynAckRx
            MPTcpExt: 0 2300 2100 2050
            Ip: Forwarding DefaultTTL
            Ip: 1 64
            Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens RetransSegs
            Tcp: 1 200 120000 -1 4400 2300 31
            """;

    private static final String DEV = """
              dsl: 1000 10 0 0 0 0 0 0 500 5 0 0 0 0 0 0
              lte: 2000 20 0 0 0 0 0 0 700 7 0 0 0 0 0 0
            """;

    @Test
    void keepsTheNamedCountersOfEachPrefix() {
        Map<String, Long> out = new TreeMap<>();
        SetupRunCounters.parseMib("cpe", MIB, List.of("TCPTimeouts", "MPCapableSYNTX", "MPJoinSynTx",
                "MPJoinSynAckRx", "ActiveOpens", "RetransSegs", "MaxConn"), out);

        assertEquals(Map.of("cpe TCPTimeouts", 17L, "cpe MPCapableSYNTX", 2300L, "cpe MPJoinSynTx", 2100L,
                "cpe MPJoinSynAckRx", 2050L, "cpe ActiveOpens", 4400L, "cpe RetransSegs", 31L, "cpe MaxConn", -1L),
                out);
    }

    /** The counters that say why a new connection waited for a timer, as the client's and server's namespaces give them. */
    @Test
    void keepsTheWaitCountersOfTheClientAndServerNamespaces() {
        String mib = """
                TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPTimeouts TCPSynRetrans TCPReqQFullDrop TCPChallengeACK
                TcpExt: 0 3 4 2 1 5 6
                Tcp: RtoAlgorithm ActiveOpens RetransSegs
                Tcp: 1 900 7
                """;
        Map<String, Long> out = new TreeMap<>();
        SetupRunCounters.parseMib("client", mib, SetupRunCounters.WAIT_MIB, out);

        assertEquals(Map.of("client ListenOverflows", 3L, "client ListenDrops", 4L, "client TCPTimeouts", 2L,
                "client TCPSynRetrans", 1L, "client TCPReqQFullDrop", 5L, "client TCPChallengeACK", 6L,
                "client RetransSegs", 7L), out);
    }

    @Test
    void addsReceivedAndSentBytesPerUplink() {
        Map<String, Long> out = new TreeMap<>();
        SetupRunCounters.parseInterfaces(DEV, out);

        assertEquals(Map.of("cpe dsl bytes", 1500L, "cpe lte bytes", 2700L), out);
    }
}
