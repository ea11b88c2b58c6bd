package net.hybridproxy.proxy.role;

import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AcceptBudgetTest {
    /** Accepted connections are "waiting" from the listener's read until their own loop registers them. */
    @Test
    void theListenerStopsReadingOverItsBudgetAndResumesAtHalfOfIt() throws Exception {
        AcceptBudget budget = new AcceptBudget(4);
        EmbeddedChannel listener = new EmbeddedChannel(budget);
        List<EmbeddedChannel> accepted = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            EmbeddedChannel child = new EmbeddedChannel(false, false);
            accepted.add(child);
            listener.writeInbound(child);
        }
        assertEquals(5, budget.waiting());
        assertFalse(listener.config().isAutoRead(), "5 waiting over a budget of 4");
        accepted.get(0).register();
        accepted.get(1).register();
        assertFalse(listener.config().isAutoRead(), "3 still waiting, over half the budget");
        accepted.get(2).register();
        assertTrue(listener.config().isAutoRead(), "2 waiting: reading again");
        assertEquals(2, budget.waiting());
    }

    /** Counted off once, at registration, whatever happens to the connection afterwards. */
    @Test
    void aConnectionIsCountedOffOnce() throws Exception {
        AcceptBudget budget = new AcceptBudget(4);
        EmbeddedChannel listener = new EmbeddedChannel(budget);
        EmbeddedChannel child = new EmbeddedChannel(false, false);
        listener.writeInbound(child);
        assertEquals(1, budget.waiting());
        child.register();
        child.close().sync();
        assertEquals(0, budget.waiting());
    }

    /**
     * Netty's acceptor closes a connection whose registration failed with {@code closeForcibly()}: no handler added,
     * no close future completed. Such connections used to stay counted, and enough of them kept the listener paused
     * for good; the check while paused finds them closed.
     */
    @Test
    void connectionsClosedForciblyBeforeRegistrationDoNotKeepTheListenerPaused() throws Exception {
        AcceptBudget budget = new AcceptBudget(4);
        EmbeddedChannel listener = new EmbeddedChannel(budget);
        listener.freezeTime();
        for (int i = 0; i < 5; i++) {
            EmbeddedChannel child = new EmbeddedChannel(false, false);
            listener.writeInbound(child);
            child.unsafe().closeForcibly();
            assertFalse(child.closeFuture().isDone(), "closeForcibly completes no close future");
        }
        assertFalse(listener.config().isAutoRead(), "5 waiting over a budget of 4");
        listener.advanceTimeBy(AcceptBudget.CHECK_MILLIS, TimeUnit.MILLISECONDS);
        listener.runScheduledPendingTasks();
        assertEquals(0, budget.waiting());
        assertTrue(listener.config().isAutoRead(), "reading again: the forcibly closed ones are gone");
        // And again later, with the check started anew.
        for (int i = 0; i < 5; i++) {
            EmbeddedChannel child = new EmbeddedChannel(false, false);
            listener.writeInbound(child);
            child.unsafe().closeForcibly();
        }
        assertFalse(listener.config().isAutoRead());
        listener.advanceTimeBy(AcceptBudget.CHECK_MILLIS, TimeUnit.MILLISECONDS);
        listener.runScheduledPendingTasks();
        assertTrue(listener.config().isAutoRead());
    }

    /** Connections still waiting for a loop keep the listener paused: the check drops only what is gone. */
    @Test
    void theCheckKeepsConnectionsStillWaiting() throws Exception {
        AcceptBudget budget = new AcceptBudget(4);
        EmbeddedChannel listener = new EmbeddedChannel(budget);
        listener.freezeTime();
        List<EmbeddedChannel> accepted = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            EmbeddedChannel child = new EmbeddedChannel(false, false);
            accepted.add(child);
            listener.writeInbound(child);
        }
        listener.advanceTimeBy(AcceptBudget.CHECK_MILLIS * 3, TimeUnit.MILLISECONDS);
        listener.runScheduledPendingTasks();
        assertEquals(5, budget.waiting());
        assertFalse(listener.config().isAutoRead());
        accepted.get(0).unsafe().closeForcibly();
        accepted.get(1).unsafe().closeForcibly();
        accepted.get(2).register();
        listener.advanceTimeBy(AcceptBudget.CHECK_MILLIS, TimeUnit.MILLISECONDS);
        listener.runScheduledPendingTasks();
        assertEquals(2, budget.waiting());
        assertTrue(listener.config().isAutoRead());
    }
}
