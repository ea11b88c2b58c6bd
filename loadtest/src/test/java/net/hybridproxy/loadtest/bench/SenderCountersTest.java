package net.hybridproxy.loadtest.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

class SenderCountersTest {

    @Test
    void reportsWhatGrewDuringTheDownloadAndZeroForACounterTheKernelLacks() {
        Map<String, Long> before = Map.of("TCPTimeouts", 4L, "TCPLossProbes", 10L, "TCPFastRetrans", 100L);
        Map<String, Long> after = Map.of("TCPTimeouts", 5L, "TCPLossProbes", 31L, "TCPFastRetrans", 160L);

        SenderCounters grown = SenderCounters.growth(before, after);

        assertEquals(new SenderCounters(1, 21, 60, 0), grown);
        assertEquals("concentrator: 1 RTO, 21 loss probes, 60 fast retransmits, 0 zero windows", grown.describe());
    }
}
