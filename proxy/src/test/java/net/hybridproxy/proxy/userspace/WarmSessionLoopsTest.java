package net.hybridproxy.proxy.userspace;

import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.nio.NioSocketChannel;
import net.hybridproxy.proxy.transport.Transport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static net.hybridproxy.proxy.userspace.WarmSessionLoops.NEVER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Which loop, and so which cpe session, a new LAN connection goes to. */
class WarmSessionLoopsTest {
    private EventLoopGroup workers;

    @BeforeEach
    void startLoops() {
        workers = Transport.NIO.newEventLoopGroup(4, "warm-session-loops-test");
    }

    @AfterEach
    void stopLoops() throws InterruptedException {
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    @Test
    void theLoopWhoseSessionDeliveredLastTakesTheConnection() {
        assertEquals(2, WarmSessionLoops.choose(new int[] {0, 0, 1, 0}, new long[] {100, NEVER, 300, 200}, 8, 0));
    }

    @Test
    void aWarmLoopAtTheLimitSpillsToTheNextMostRecent() {
        assertEquals(3, WarmSessionLoops.choose(new int[] {0, 0, 8, 0}, new long[] {100, NEVER, 300, 200}, 8, 0));
    }

    @Test
    void withoutAWarmLoopUnderTheLimitTheLeastLoadedTakesItInTurn() {
        // Nothing delivered anywhere yet: the fewest connections, equals in turn from the start.
        assertEquals(1, WarmSessionLoops.choose(new int[] {0, 0, 0, 0}, new long[] {NEVER, NEVER, NEVER, NEVER}, 8, 1));
        assertEquals(3, WarmSessionLoops.choose(new int[] {2, 1, 1, 0}, new long[] {NEVER, NEVER, NEVER, NEVER}, 8, 1));
        // The warm loops are full and the others cold: the least loaded cold one, not a full warm one.
        assertEquals(1, WarmSessionLoops.choose(new int[] {8, 0, 8, 3}, new long[] {100, NEVER, 300, NEVER}, 8, 2));
        // Every loop at the limit: the fewest.
        assertEquals(0, WarmSessionLoops.choose(new int[] {8, 9, 10, 9}, new long[] {100, 50, 300, 200}, 8, 2));
    }

    @Test
    void aLimitOfZeroTakesEachLoopInTurn() {
        assertEquals(3, WarmSessionLoops.choose(new int[] {0, 0, 0, 0}, new long[] {100, NEVER, 300, 200}, 0, 3));
    }

    @Test
    void registrationsGoToTheWarmLoopUntilItHoldsTheLimitAndAreCountedUntilTheyClose() throws Exception {
        WarmSessionLoops loops = new WarmSessionLoops(workers, 2);
        List<EventLoop> all = new ArrayList<>();
        workers.forEach(e -> all.add((EventLoop) e));
        EventLoop warm = all.get(2);
        for (EventLoop loop : all) {
            loops.markCold(loop);
        }
        AtomicLong delivered = loops.markCold(warm);
        delivered.set(System.nanoTime());

        Channel a = register(loops);
        Channel b = register(loops);
        assertSame(warm, a.eventLoop());
        assertSame(warm, b.eventLoop());
        assertEquals(2, loops.connections(warm));
        Channel c = register(loops);
        assertEquals(false, c.eventLoop() == warm, "a third connection spills: the warm loop holds its two");

        a.close().sync();
        assertEquals(1, loops.connections(warm));
        Channel e = register(loops);
        assertSame(warm, e.eventLoop(), "back under the limit, the warm loop takes the next");

        // A new session on the warm loop (its concentrator restarted) is as cold as the others, and it holds a
        // connection they do not.
        loops.markCold(warm);
        b.close().sync();
        c.close().sync();
        assertEquals(1, loops.connections(warm));
        assertEquals(false, register(loops).eventLoop() == warm, "no warm loop: one of the least loaded");
        e.close().sync();
    }

    @Test
    void theOwnerShutsTheLoopsDown() {
        WarmSessionLoops loops = new WarmSessionLoops(workers, 8);
        assertThrows(UnsupportedOperationException.class, () -> loops.shutdownGracefully(0, 1, TimeUnit.SECONDS));
    }

    private static Channel register(WarmSessionLoops loops) throws InterruptedException {
        Channel channel = new NioSocketChannel();
        loops.register(channel).sync();
        return channel;
    }
}
