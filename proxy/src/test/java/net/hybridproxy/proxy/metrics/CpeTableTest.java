package net.hybridproxy.proxy.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import net.hybridproxy.admin.ApplianceStatus.CpeStatusView;
import org.junit.jupiter.api.Test;

class CpeTableTest {
    private static final CpeTable.CpeId ALICE = CpeTable.CpeId.key("alice");
    private static final CpeTable.CpeId BOB = CpeTable.CpeId.key("bob");

    @Test
    void connectionsAndBytesAddUpPerCpeAndTheBusiestComesFirst() {
        CpeTable table = new CpeTable();
        CpeTable.Row a1 = table.openConnection(ALICE);
        CpeTable.Row a2 = table.openConnection(ALICE);
        CpeTable.Row b = table.openConnection(BOB);
        a1.relayed(true, 100);
        a2.relayed(false, 50);
        b.relayed(false, 1_000);
        a2.closeConnection();

        List<CpeStatusView> rows = table.rows();
        assertEquals(List.of(
                new CpeStatusView("bob", "key", 0, 1, 1, 0, 1_000, Map.of()),
                new CpeStatusView("alice", "key", 0, 1, 2, 100, 50, Map.of())), rows);
    }

    @Test
    void samplesSetSessionsAndSubflowsPerSourceAndAGoneCpeShowsNone() throws Exception {
        CpeTable table = new CpeTable();
        CpeTable.CpeId byAddress = CpeTable.CpeId.address(InetAddress.getByName("198.18.5.1"));
        table.openConnection(byAddress);
        table.publishSample("kernel", Map.of(byAddress,
                new CpeTable.SampledCpe(0, Map.of("198.18.5.1", 1, "198.18.6.1", 2))));
        table.publishSample("userspace", Map.of(ALICE, new CpeTable.SampledCpe(2, Map.of("198.18.7.1", 4))));

        assertEquals(Map.of("198.18.5.1", 1, "198.18.6.1", 2), row(table, "198.18.5.1").subflowsByUplink());
        assertEquals("address", row(table, "198.18.5.1").identifiedBy());
        assertEquals(2, row(table, "alice").sessions(), "a session without a stream yet still shows");

        // The next userspace pass no longer sees alice's sessions; the kernel's figures stay as they were.
        table.publishSample("userspace", Map.of());
        assertEquals(0, row(table, "alice").sessions());
        assertEquals(Map.of(), row(table, "alice").subflowsByUplink());
        assertEquals(3, row(table, "198.18.5.1").subflowsByUplink().values().stream().mapToInt(i -> i).sum());
    }

    @Test
    void beyondTheBoundAnIdleCpeGivesUpItsRowAndItsTotalsGoToOther() {
        CpeTable table = new CpeTable(2);
        CpeTable.Row a = table.openConnection(ALICE);
        a.relayed(true, 10);
        a.closeConnection();
        CpeTable.Row b = table.openConnection(BOB);
        b.relayed(true, 20);

        CpeTable.Row c = table.openConnection(CpeTable.CpeId.key("carol"));
        c.relayed(true, 30);
        a.relayed(true, 5); // a relay still flushing after its row was given away: counted in "other"

        List<CpeStatusView> rows = table.rows();
        assertEquals(List.of("carol", "bob", "other"), rows.stream().map(CpeStatusView::id).toList());
        assertEquals(new CpeStatusView("other", "other", 0, 0, 1, 15, 0, Map.of()), rows.get(2));
    }

    @Test
    void whenEveryRowIsBusyANewCpeIsCountedInOther() {
        CpeTable table = new CpeTable(1);
        table.openConnection(ALICE);
        CpeTable.Row overflow = table.openConnection(BOB);
        overflow.relayed(false, 7);
        table.publishSample("userspace", Map.of(CpeTable.CpeId.key("carol"), new CpeTable.SampledCpe(1, Map.of())));

        List<CpeStatusView> rows = table.rows();
        assertEquals(List.of("alice", "other"), rows.stream().map(CpeStatusView::id).toList());
        assertEquals(new CpeStatusView("other", "other", 1, 1, 1, 0, 7, Map.of()), rows.get(1));
        overflow.closeConnection();
        assertEquals(0, row(table, "other").connections());
    }

    @Test
    void rowsAndUplinksStayBoundedWhateverTheChurn() {
        CpeTable table = new CpeTable();
        for (int i = 0; i < 10_000; i++) {
            CpeTable.Row row = table.openConnection(CpeTable.CpeId.key("cpe-" + i));
            row.relayed(true, 1);
            row.closeConnection();
        }
        Map<String, Integer> manyUplinks = new HashMap<>();
        for (int i = 0; i < 20; i++) {
            manyUplinks.put("198.18.9." + i, 1);
        }
        table.publishSample("kernel", Map.of(ALICE, new CpeTable.SampledCpe(0, manyUplinks)));

        List<CpeStatusView> rows = table.rows();
        assertEquals(CpeTable.MAX_ROWS + 1, rows.size(), "the bound, plus other");
        assertEquals(10_000, rows.stream().mapToLong(CpeStatusView::connectionsTotal).sum(), "nothing is lost");
        assertEquals(10_000, rows.stream().mapToLong(CpeStatusView::bytesUpstream).sum());
        Map<String, Integer> alice = row(table, "alice").subflowsByUplink();
        assertEquals(CpeTable.MAX_UPLINKS_PER_ROW, alice.size());
        assertEquals(20, alice.values().stream().mapToInt(i -> i).sum());
        assertEquals(20 - (CpeTable.MAX_UPLINKS_PER_ROW - 1), alice.get(CpeTable.OTHER));
    }

    @Test
    void aTableNeedsARow() {
        assertThrows(IllegalArgumentException.class, () -> new CpeTable(0));
    }

    private static CpeStatusView row(CpeTable table, String id) {
        return table.rows().stream().filter(r -> r.id().equals(id)).findFirst().orElseThrow();
    }
}
