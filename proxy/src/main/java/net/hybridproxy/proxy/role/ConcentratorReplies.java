package net.hybridproxy.proxy.role;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import net.hybridproxy.proxy.logging.RefusalLog;
import net.hybridproxy.proxy.upstream.ConcentratorMonitor;
import net.hybridproxy.proxy.upstream.ConcentratorSelector.Choice;

import java.lang.System.Logger.Level;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The cpe's side of the concentrators' RFC 8803 Convert replies, shared by every connection of the role: the bound
 * on the wait for one ({@code cpe.convert-reply-timeout}) and what a timeout does (counted in
 * {@code hybridproxy_connections_refused_total{reason="convert_reply_timeout"}}, logged at WARN at most once per
 * {@link #LOG_INTERVAL} per concentrator, reported to the concentrator's health), and the logs of what replies
 * bring: Error TLVs at INFO, MPTCP fallbacks and malformed replies at WARN, each rate-limited the same way per
 * (reason, concentrator) with {@link RefusalLog}, so a concentrator refusing a flood of connections (or a path
 * stripping MPTCP from every one) cannot flood the cpe's journal. The counters still count every one.
 *
 * <p>The deadlines live in one queue per event loop with one timer, not in a scheduled task per connection: a reply
 * normally comes within a round trip, and a timer armed and cancelled per connection would move the loop's next
 * wake-up twice per connection (a {@code timerfd_settime} each on epoll). The timeout is the same for every
 * connection, so a queue in arrival order is in deadline order; an entry whose reply came is emptied at once (it
 * holds nothing) and dropped when the timer next passes it.
 */
final class ConcentratorReplies {
    private static final System.Logger LOG = System.getLogger("hybridproxy.cpe");
    /** One line per (reason, concentrator) per interval; the concentrator's own refusal log default. */
    static final Duration LOG_INTERVAL = Duration.ofSeconds(10);

    private final Duration timeout;
    private final long timeoutNanos;
    private final ProxyCounters counters;
    private final ConcentratorMonitor concentrators;
    private final RefusalLog refusals;
    private final RefusalLog failures;
    private final Map<EventExecutor, LoopDeadlines> loops = new ConcurrentHashMap<>();

    ConcentratorReplies(Duration timeout, ProxyCounters counters, ConcentratorMonitor concentrators) {
        this(timeout, counters, concentrators, LOG, System::nanoTime);
    }

    /** With the logger and the logs' clock given (tests). */
    ConcentratorReplies(Duration timeout, ProxyCounters counters, ConcentratorMonitor concentrators,
                        System.Logger log, LongSupplier logClock) {
        this.timeout = timeout;
        this.timeoutNanos = timeout.toNanos();
        this.counters = counters;
        this.concentrators = concentrators;
        this.refusals = new RefusalLog(log, Level.INFO, LOG_INTERVAL, logClock);
        this.failures = new RefusalLog(log, Level.WARNING, LOG_INTERVAL, logClock);
    }

    ProxyCounters counters() {
        return counters;
    }

    Duration timeout() {
        return timeout;
    }

    /** On {@code loop}: starts {@code handler}'s wait; it is told {@link ConvertReplyHandler#replyTimedOut} at the end. */
    Deadline await(EventExecutor loop, ConvertReplyHandler handler) {
        return loops.computeIfAbsent(loop, LoopDeadlines::new).add(handler);
    }

    /** A reply (an answer or an Error TLV) came from {@code from}: it is alive, whatever it said. */
    void replied(Choice from) {
        concentrators.replied(from);
    }

    /** An Error TLV received: logged at INFO, once per interval per (error, concentrator), with the count of the rest. */
    void refused(String error, SocketAddress concentrator, Supplier<String> detail) {
        refusals.refused(error, address(concentrator), detail);
    }

    /**
     * Something wrong with a concentrator connection that every connection may hit alike (an MPTCP fallback on a
     * path that strips the option, a malformed reply): logged at WARN, once per interval per (reason,
     * concentrator), with the count of the rest. {@code reason} is a fixed category, never the peer's text.
     */
    void failed(String reason, SocketAddress concentrator, Supplier<String> detail) {
        failures.refused(reason, address(concentrator), detail);
    }

    /** The wait of a connection to {@code target} ended without a reply: counted, logged, reported to its health. */
    void timedOut(Choice target, SocketAddress concentrator, String label) {
        counters.convertReplyTimedOut();
        concentrators.replyTimedOut(target, timeout);
        failures.refused("convert reply timeout", address(concentrator), () -> label
                + ": no Convert reply from the concentrator " + target.concentrator().name() + " within "
                + timeout.toMillis() + " ms (cpe.convert-reply-timeout); client and concentrator connection reset");
    }

    private static InetAddress address(SocketAddress address) {
        return address instanceof InetSocketAddress inet ? inet.getAddress() : null;
    }

    /** One connection's place in its loop's queue; {@link #cancel} when the wait ended otherwise. */
    static final class Deadline {
        private ConvertReplyHandler handler;
        private final long atNanos;

        private Deadline(ConvertReplyHandler handler, long atNanos) {
            this.handler = handler;
            this.atNanos = atNanos;
        }

        /** The wait ended (a reply, a failure, the connection closed): forget the handler, so nothing is held. */
        void cancel() {
            handler = null;
        }
    }

    /** One event loop's waits, in deadline order; touched only on that loop. */
    private final class LoopDeadlines {
        private final EventExecutor loop;
        private final ArrayDeque<Deadline> queue = new ArrayDeque<>();
        private ScheduledFuture<?> timer;

        LoopDeadlines(EventExecutor loop) {
            this.loop = loop;
        }

        Deadline add(ConvertReplyHandler handler) {
            // Replies come back about in the order the waits began: dropping the answered heads here keeps the
            // queue near the number of connections really waiting, not the connection rate times the timeout.
            while (!queue.isEmpty() && queue.peekFirst().handler == null) {
                queue.pollFirst();
            }
            Deadline deadline = new Deadline(handler, loop.ticker().nanoTime() + timeoutNanos);
            queue.addLast(deadline);
            if (timer == null) {
                timer = loop.schedule(this::expire, timeoutNanos, TimeUnit.NANOSECONDS);
            }
            return deadline;
        }

        private void expire() {
            timer = null;
            long now = loop.ticker().nanoTime();
            Deadline head;
            while ((head = queue.peekFirst()) != null && (head.handler == null || head.atNanos - now <= 0)) {
                queue.pollFirst();
                ConvertReplyHandler waiting = head.handler;
                if (waiting != null) {
                    head.handler = null;
                    waiting.replyTimedOut();
                }
            }
            if (head != null) {
                timer = loop.schedule(this::expire, head.atNanos - now, TimeUnit.NANOSECONDS);
            }
        }
    }
}
