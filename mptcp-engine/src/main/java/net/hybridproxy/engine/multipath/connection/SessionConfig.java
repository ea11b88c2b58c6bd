package net.hybridproxy.engine.multipath.connection;

import java.time.Duration;
import java.util.Objects;
import net.hybridproxy.engine.multipath.frame.Data;
import net.hybridproxy.engine.multipath.pm.ProbePolicy;
import net.hybridproxy.engine.multipath.reassembly.SendBuffer;
import net.hybridproxy.engine.multipath.sched.Schedulers;

/**
 * Every bound and timer of a session. {@link #defaults()} documents each default and why.
 *
 * @param scheduler            scheduler name, one of {@link Schedulers#NAMES}
 * @param overflowBudgetBytes  {@code primary-first} spill-over budget per period, {@code Long.MAX_VALUE} for none
 * @param overflowBudgetPeriod the budget's period
 * @param streamSendBuffer     bytes a stream holds until DATA_ACKed
 * @param streamReceiveWindow  the largest receive window of a stream, bytes
 * @param sessionReceiveBudget bytes of receive window all streams of a session may be granted together beyond
 *                             their initial windows (which the protocol promises to every stream)
 * @param maxStreams           concurrent streams per session
 * @param maxSubflows          subflows per session (at most 64: they are tracked in a bit mask)
 * @param maxOutOfOrderPieces  out-of-order pieces a stream holds, at least {@link SendBuffer#MAX_SEGMENTS_IN_FLIGHT}
 * @param probes               probe and stall timing
 * @param handshakeTimeout     how long a subflow may take to authenticate
 * @param reconnectBackoff     the path manager's first retry delay
 * @param maxReconnectBackoff  the path manager's longest retry delay
 * @param stableAfter          attached this long, a subflow resets its uplink's backoff
 * @param orphanTimeout        concentrator: how long a session without subflows waits for a rejoin
 * @param sessionMemoryBudget  heap bytes the session's streams may hold together (buffers with their overhead,
 *                             {@link MemoryBudget}); the process-wide budget bounds all sessions together
 * @param lateReinjection      reinject at once what a path that stopped delivering holds (its TCP connection silent
 *                             for 1.5 RTTs while holding data, SACKed data counting as delivered, or the segment
 *                             in-order delivery waits for overdue by that connection's own window and RTT while what
 *                             was sent after it has not arrived either) and hand it nothing until it delivered what
 *                             it held; an overdue segment TCP repairs as a hole is reinjected alone
 *                             (SubflowTable#reinjectFromLatePaths). Off by default: the simulator, whose TCP now
 *                             reports what Linux's TCP_INFO does, is right with it on lossy paths, but the lab could
 *                             not confirm it (docs/decisions.md, "Userspace engine, sixth pass")
 * @param receiveWindowPeriods what a stream's receive limit grows to, in autotuning periods' worth of what the
 *                             application read in the last period (2 to 16). Linux's {@code tcp_rcv_space_adjust()}
 *                             takes two, but its period is the receiver's own RTT estimate of the data
 *                             ({@code rcv_rtt}, queue included) and kernel MPTCP takes the largest ever seen of its
 *                             subflows. Ours is the slowest subflow's smoothed RTT as this end's socket measures it:
 *                             on a receiving cpe, that of its own small upstream frames, which includes neither the
 *                             downstream queue nor the repair of a loss, during which in-order delivery waits and the
 *                             window's left edge stands. With two, a stream whose data takes twice that period to be
 *                             read reads half its limit per period, exactly the threshold at which the limit grows: a
 *                             fixed point below the paths' rate. Four covers the data in flight, one repair behind the
 *                             queue and slow start's doubling; it is better with BBR subflows in the simulator but
 *                             worse on some lossy scenarios with Reno-like ones, so the default stays two until the
 *                             lab confirms it (docs/decisions.md, "the receive window sized from an RTT that misses
 *                             the queue")
 * @param receivePeriodFromReceiverRtt the receive autotuning period is the largest of the subflows' receiver RTT
 *                             estimates ({@code tcpi_rcv_rtt}, queue included, {@link
 *                             net.hybridproxy.engine.multipath.subflow.SubflowEstimates#rcvRttNanos()}) and smoothed
 *                             RTTs, as kernel MPTCP's {@code mptcp_rcv_space_adjust()} takes the highest of its
 *                             subflows' {@code rcv_rtt_est}; off: the slowest smoothed RTT alone. Off by default: in
 *                             the simulator it gains where four periods did and loses elsewhere (docs/decisions.md,
 *                             "lossy paths, tenth pass")
 * @param collapseReinjection  the collapse rule (SubflowTable#actOnCollapse: a path whose delivery rate fell below a
 *                             quarter of its peak over several samples, its RTT doubled, another path twice as fast)
 *                             acts without the rest of late reinjection, whose overdue-head, hole and queued-head
 *                             copies cost the lab's lossy paths; {@code lateReinjection} turns it on as well. Off by
 *                             default until a quiet lab series shows it judges no loss-free link collapsed
 *                             (docs/decisions.md, "lossy and collapsing paths, eleventh pass")
 * @param warmStreamWindows    a stream whose send or receive limit grows by autotuning grows at once to the largest
 *                             limit this session's streams reached before ({@code StreamTable#autotuneReceive}): the
 *                             subflows are warm (their congestion windows survive between streams), so a new bulk
 *                             stream need not learn the paths' bandwidth-delay product again from the 256 KiB initial
 *                             window, doubling at most once per period on each side. A stream that never grows (a
 *                             short or idle one) reserves nothing more. Off by default until a quiet lab series
 *                             confirms it (docs/decisions.md, "the first two seconds of a download")
 */
public record SessionConfig(String scheduler, long overflowBudgetBytes, Duration overflowBudgetPeriod,
                            int streamSendBuffer, int streamReceiveWindow, long sessionReceiveBudget,
                            int maxStreams, int maxSubflows, int maxOutOfOrderPieces, ProbePolicy probes,
                            Duration handshakeTimeout, Duration reconnectBackoff, Duration maxReconnectBackoff,
                            Duration stableAfter, Duration orphanTimeout, long sessionMemoryBudget,
                            boolean lateReinjection, int receiveWindowPeriods, boolean receivePeriodFromReceiverRtt,
                            boolean collapseReinjection, boolean warmStreamWindows) {

    public SessionConfig {
        Objects.requireNonNull(scheduler, "scheduler");
        Schedulers.create(scheduler, overflowBudgetBytes, Math.max(1, overflowBudgetPeriod.toNanos()));
        if (streamSendBuffer < Data.MAX_PAYLOAD || streamReceiveWindow < Stream.INITIAL_WINDOW) {
            throw new IllegalArgumentException("stream buffers must be at least " + Data.MAX_PAYLOAD
                    + " bytes (send) and " + Stream.INITIAL_WINDOW + " bytes (receive)");
        }
        if (sessionReceiveBudget < Stream.INITIAL_WINDOW || maxStreams < 1 || maxSubflows < 1 || maxSubflows > 64
                || maxOutOfOrderPieces < SendBuffer.MAX_SEGMENTS_IN_FLIGHT) {
            throw new IllegalArgumentException("session receive budget " + sessionReceiveBudget + ", max streams "
                    + maxStreams + ", max subflows " + maxSubflows + " (1..64), out-of-order pieces "
                    + maxOutOfOrderPieces + " (at least " + SendBuffer.MAX_SEGMENTS_IN_FLIGHT + ")");
        }
        Objects.requireNonNull(probes, "probes");
        if (receiveWindowPeriods < 2 || receiveWindowPeriods > 16) {
            throw new IllegalArgumentException("receive window periods " + receiveWindowPeriods + " (2..16)");
        }
        if (sessionMemoryBudget < 2L * Stream.INITIAL_WINDOW) {
            throw new IllegalArgumentException("session memory budget " + sessionMemoryBudget + " must be at least "
                    + 2 * Stream.INITIAL_WINDOW + " bytes (one stream's initial windows)");
        }
    }

    /**
     * The defaults:
     * <ul>
     * <li>{@code lowest-rtt}, no budget: the kernel's behaviour, so that switching engines changes
     *     nothing an operator did not ask for;</li>
     * <li>4 MiB send buffer and receive window per stream: covers 100 Mb/s over a 70 ms LTE path
     *     with 150 ms of reordering against DSL (100e6/8 * 0.22 s = 2.75 MB), the heterogeneous
     *     case of the issue, with margin; Linux's tcp_rmem maximum is 6 MiB;</li>
     * <li>64 MiB of receive window per session beyond the streams' initial windows, 1024 streams, 8 subflows: a
     *     household's worth,
     *     bounded whatever the peer does;</li>
     * <li>probes every 100 ms (1 s when idle), stall at 3 RTT + 4 RTTVAR clamped to 200..700 ms,
     *     close after 5 s stalled: blackhole detection well under a second;</li>
     * <li>5 s to authenticate, reconnect backoff 100 ms doubling to 10 s, stable after 10 s,
     *     60 s for an orphaned session to be rejoined;</li>
     * <li>late reinjection off, until it tells a loss repair from a silent path (see above); the silence rule acts
     *     without it (SubflowTable#reinjectFromLatePaths).</li>
     * </ul>
     */
    public static SessionConfig defaults() {
        return new SessionConfig("lowest-rtt", Long.MAX_VALUE, Duration.ofHours(1), 4 << 20, 4 << 20, 64L << 20,
                1024, 8, 2048,
                new ProbePolicy(ms(100), ms(1000), 3, ms(200), ms(700), ms(5000)),
                Duration.ofSeconds(5), Duration.ofMillis(100), Duration.ofSeconds(10), Duration.ofSeconds(10),
                Duration.ofSeconds(60), 32L << 20, false, 2, false, false, false);
    }

    /** The same configuration with another scheduler. */
    public SessionConfig withScheduler(String name) {
        return new SessionConfig(name, overflowBudgetBytes, overflowBudgetPeriod, streamSendBuffer,
                streamReceiveWindow, sessionReceiveBudget, maxStreams, maxSubflows, maxOutOfOrderPieces, probes,
                handshakeTimeout, reconnectBackoff, maxReconnectBackoff, stableAfter, orphanTimeout, sessionMemoryBudget,
                lateReinjection, receiveWindowPeriods, receivePeriodFromReceiverRtt, collapseReinjection,
                warmStreamWindows);
    }

    /** The same configuration with an overflow budget. */
    public SessionConfig withOverflowBudget(long bytes, Duration period) {
        return new SessionConfig(scheduler, bytes, period, streamSendBuffer, streamReceiveWindow,
                sessionReceiveBudget, maxStreams, maxSubflows, maxOutOfOrderPieces, probes, handshakeTimeout,
                reconnectBackoff, maxReconnectBackoff, stableAfter, orphanTimeout, sessionMemoryBudget,
                lateReinjection, receiveWindowPeriods, receivePeriodFromReceiverRtt, collapseReinjection,
                warmStreamWindows);
    }

    /** The same configuration with another per-session memory budget. */
    public SessionConfig withSessionMemoryBudget(long bytes) {
        return new SessionConfig(scheduler, overflowBudgetBytes, overflowBudgetPeriod, streamSendBuffer,
                streamReceiveWindow, sessionReceiveBudget, maxStreams, maxSubflows, maxOutOfOrderPieces, probes,
                handshakeTimeout, reconnectBackoff, maxReconnectBackoff, stableAfter, orphanTimeout, bytes,
                lateReinjection, receiveWindowPeriods, receivePeriodFromReceiverRtt, collapseReinjection,
                warmStreamWindows);
    }

    /** The same configuration with late-path reinjection on or off. */
    public SessionConfig withLateReinjection(boolean on) {
        return new SessionConfig(scheduler, overflowBudgetBytes, overflowBudgetPeriod, streamSendBuffer,
                streamReceiveWindow, sessionReceiveBudget, maxStreams, maxSubflows, maxOutOfOrderPieces, probes,
                handshakeTimeout, reconnectBackoff, maxReconnectBackoff, stableAfter, orphanTimeout, sessionMemoryBudget,
                on, receiveWindowPeriods, receivePeriodFromReceiverRtt, collapseReinjection,
                warmStreamWindows);
    }

    /** The same configuration with another receive window growth ({@code receiveWindowPeriods}). */
    public SessionConfig withReceiveWindowPeriods(int periods) {
        return new SessionConfig(scheduler, overflowBudgetBytes, overflowBudgetPeriod, streamSendBuffer,
                streamReceiveWindow, sessionReceiveBudget, maxStreams, maxSubflows, maxOutOfOrderPieces, probes,
                handshakeTimeout, reconnectBackoff, maxReconnectBackoff, stableAfter, orphanTimeout, sessionMemoryBudget,
                lateReinjection, periods, receivePeriodFromReceiverRtt, collapseReinjection,
                warmStreamWindows);
    }

    /** The same configuration with the receive autotuning period from the receivers' RTT estimates or not. */
    public SessionConfig withReceivePeriodFromReceiverRtt(boolean on) {
        return new SessionConfig(scheduler, overflowBudgetBytes, overflowBudgetPeriod, streamSendBuffer,
                streamReceiveWindow, sessionReceiveBudget, maxStreams, maxSubflows, maxOutOfOrderPieces, probes,
                handshakeTimeout, reconnectBackoff, maxReconnectBackoff, stableAfter, orphanTimeout, sessionMemoryBudget,
                lateReinjection, receiveWindowPeriods, on, collapseReinjection, warmStreamWindows);
    }

    /** The same configuration with the collapse rule acting on its own (without the rest of late reinjection) or not. */
    public SessionConfig withCollapseReinjection(boolean on) {
        return new SessionConfig(scheduler, overflowBudgetBytes, overflowBudgetPeriod, streamSendBuffer,
                streamReceiveWindow, sessionReceiveBudget, maxStreams, maxSubflows, maxOutOfOrderPieces, probes,
                handshakeTimeout, reconnectBackoff, maxReconnectBackoff, stableAfter, orphanTimeout, sessionMemoryBudget,
                lateReinjection, receiveWindowPeriods, receivePeriodFromReceiverRtt, on, warmStreamWindows);
    }

    /** The same configuration with new streams' windows grown from the session's earlier streams or not. */
    public SessionConfig withWarmStreamWindows(boolean on) {
        return new SessionConfig(scheduler, overflowBudgetBytes, overflowBudgetPeriod, streamSendBuffer,
                streamReceiveWindow, sessionReceiveBudget, maxStreams, maxSubflows, maxOutOfOrderPieces, probes,
                handshakeTimeout, reconnectBackoff, maxReconnectBackoff, stableAfter, orphanTimeout, sessionMemoryBudget,
                lateReinjection, receiveWindowPeriods, receivePeriodFromReceiverRtt, collapseReinjection, on);
    }

    private static long ms(long millis) {
        return millis * 1_000_000L;
    }
}
