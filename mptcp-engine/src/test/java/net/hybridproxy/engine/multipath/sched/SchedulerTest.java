package net.hybridproxy.engine.multipath.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import org.junit.jupiter.api.Test;

class SchedulerTest {

    private static SubflowView view(long id, SubflowPriority priority, long rttMs, long space) {
        return new SubflowView(id, (int) id, priority, rttMs * 1_000_000, 0, 100_000, 0, 0, space, false);
    }

    @Test
    void lowestRttPicksTheFastestSubflowWithRoomAndBackupsOnlyWhenNothingElseIsUsable() {
        Scheduler s = new LowestRttScheduler();
        SubflowView dsl = view(0, SubflowPriority.PRIMARY, 20, 10_000);
        SubflowView lte = view(1, SubflowPriority.PRIMARY, 50, 10_000);
        SubflowView backup = view(2, SubflowPriority.BACKUP, 5, 10_000);

        assertEquals(0, s.pick(List.of(dsl, lte, backup), 1000, 1000, 0));
        assertEquals(1, s.pick(List.of(view(0, SubflowPriority.PRIMARY, 20, 0), lte, backup), 1000, 1000, 0));
        assertEquals(-1, s.pick(List.of(view(0, SubflowPriority.PRIMARY, 20, 0), backup), 1000, 1000, 0),
                "a full primary is still usable: the backup waits");
        assertEquals(0, s.pick(List.of(backup), 1000, 1000, 0));
    }

    @Test
    void primaryFirstSpillsOnlyWhenThePrimaryIsFullAndWithinItsBudget() {
        PrimaryFirstScheduler s = new PrimaryFirstScheduler(1500, 1_000_000_000L);
        SubflowView dslFull = view(0, SubflowPriority.PRIMARY, 20, 0);
        SubflowView dsl = view(0, SubflowPriority.PRIMARY, 20, 10_000);
        SubflowView lte = view(1, SubflowPriority.OVERFLOW, 50, 10_000);

        assertEquals(0, s.pick(List.of(dsl, lte), 1000, 1000, 0));
        assertEquals(1, s.pick(List.of(dslFull, lte), 1000, 1000, 0));
        s.sent(lte, 1000, true, 0);
        assertEquals(-1, s.pick(List.of(dslFull, lte), 1000, 1000, 10), "budget spent");
        assertEquals(0, s.pick(List.of(lte), 1000, 1000, 10), "no primary: failover ignores the budget");
        assertEquals(1, s.pick(List.of(dslFull, lte), 1000, 1000, 1_000_000_001L), "a new period");
    }

    @Test
    void ecfWaitsForTheFastSubflowWhenTheSlowOneWouldFinishLater() {
        EcfScheduler s = new EcfScheduler();
        SubflowView fastFull = view(0, SubflowPriority.PRIMARY, 10, 0);
        SubflowView slow = view(1, SubflowPriority.PRIMARY, 200, 100_000);

        assertEquals(-1, s.pick(List.of(fastFull, slow), 1000, 20_000, 0), "20 kB finish sooner on the fast path");
        assertEquals(1, s.pick(List.of(fastFull, slow), 1000, 50_000_000, 0), "50 MB need both paths");
    }

    @Test
    void roundRobinTakesTurns() {
        Scheduler s = new RoundRobinScheduler();
        List<SubflowView> views = List.of(view(0, SubflowPriority.PRIMARY, 20, 10_000),
                view(1, SubflowPriority.PRIMARY, 50, 10_000));

        assertEquals(0, s.pick(views, 1000, 0, 0));
        assertEquals(1, s.pick(views, 1000, 0, 0));
        assertEquals(0, s.pick(views, 1000, 0, 0));
    }

    @Test
    void schedulersAreCreatedByNameAndUnknownNamesAreListed() {
        for (String name : Schedulers.NAMES) {
            assertEquals(name, Schedulers.create(name, Long.MAX_VALUE, 1).name());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.create("fastest", Long.MAX_VALUE, 1));
        assertEquals("unknown scheduler 'fastest'; known are " + Schedulers.NAMES, e.getMessage());
    }
}
