package net.hybridproxy.proxy.relay;

import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;

import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * Writes left unflushed on a channel so that they leave in one send with what the relay writes next, bounded in
 * time: whatever is still unflushed when the hold ends (at most 1.25 times the hold after it began) is flushed
 * then. The relay flushes a channel at the end of
 * every read of its peer ({@link RelayHandler#channelReadComplete}), and writes queued before it go out in the same
 * {@code writev}, so the held bytes and the peer's first bytes share a segment. The peer's FIN or close flushes
 * them too (the relay empties the outbound buffer before it forwards either).
 *
 * <p>One queue per event loop and hold time, in arrival order (so in deadline order), with one timer due at the
 * head's deadline, like {@link IdleRelays}: a timer armed and cancelled per connection would move the loop's next
 * wake-up twice per connection. An entry is not removed when the relay flushed it first: the flush at its deadline
 * then finds nothing queued and returns, or finds the channel closed.
 */
public final class HeldFlushes {
    private static final PerLoopAndDuration<HeldFlushes> BY_HOLD = new PerLoopAndDuration<>(HeldFlushes::new);

    private final EventLoop loop;
    private final long holdNanos;
    private final ArrayDeque<Held> queue = new ArrayDeque<>();
    private ScheduledFuture<?> timer;

    private HeldFlushes(EventLoop loop, long holdNanos) {
        this.loop = loop;
        this.holdNanos = holdNanos;
    }

    /**
     * Leaves what {@code channel} has written but not flushed for the relay's next flush, and flushes it between
     * {@code holdNanos} and 1.25 times that later at the latest. Call on the channel's event loop.
     */
    public static void hold(Channel channel, long holdNanos) {
        BY_HOLD.on(channel.eventLoop(), holdNanos).add(channel);
    }

    private void add(Channel channel) {
        long now = loop.ticker().nanoTime();
        queue.addLast(new Held(channel, now + holdNanos));
        if (timer == null) {
            timer = loop.schedule(this::expire, holdNanos, TimeUnit.NANOSECONDS);
        }
    }

    private void expire() {
        timer = null;
        long now = loop.ticker().nanoTime();
        Held head;
        while ((head = queue.peekFirst()) != null && head.atNanos - now <= 0) {
            queue.pollFirst();
            // Nothing queued (the relay flushed it) or closed: Netty's flush returns at once.
            head.channel.flush();
        }
        if (head != null) {
            // A quarter of the hold late at most, so that a steady stream of holds wakes the loop a few times per
            // hold, not once per connection.
            timer = loop.schedule(this::expire, head.atNanos - now + holdNanos / 4, TimeUnit.NANOSECONDS);
        }
    }

    private record Held(Channel channel, long atNanos) {
    }
}
