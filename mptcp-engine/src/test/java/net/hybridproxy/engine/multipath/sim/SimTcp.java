package net.hybridproxy.engine.multipath.sim;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import net.hybridproxy.engine.multipath.subflow.SubflowEstimates;

/**
 * A TCP connection over one {@link SimLink}, as the engine above it sees TCP: a reliable, in-order
 * byte stream in each direction with a congestion window, a send queue and an RTT.
 *
 * <p>The model: segments of {@value #MSS} bytes leave while the bytes in flight fit the window;
 * the window starts at 10 segments, doubles every RTT (slow start) and grows by one segment per
 * RTT after a loss (congestion avoidance), and is capped at the link's bandwidth-delay product
 * plus its queue (the most a loss-free TCP would keep in flight). A dropped segment (random loss,
 * a full queue) is sent again after about one RTT (fast retransmit) and halves the window; a
 * dropped retransmission, and every segment under a blackhole, waits for a retransmission timeout
 * of max(200 ms, 2 RTT), doubling, unless a segment sent after it is acknowledged first: then it is
 * sent again at once, as Linux's RACK loss detection does ({@code tcp_rack_detect_loss()} in
 * {@code net/ipv4/tcp_recovery.c}: a packet is lost "if some packet sent later has been (s)acked",
 * and "it applies to both original and retransmitted packet"), one reordering window (a quarter of
 * the minimum RTT) after the later segment's RTT. The receiver delivers only in order, so one lost segment holds
 * back everything behind it, as in TCP. Every segment is acknowledged on its own (SACK), with the
 * cumulative acknowledgement alongside; the estimates report what Linux's {@code TCP_INFO} does:
 * bytes not cumulatively acknowledged as in flight ({@code tcpi_unacked}, SACKed ones included),
 * and the SACK-aware delivery signals ({@code tcpi_delivered}, {@code tcpi_sacked},
 * {@code tcpi_lost}, {@code tcpi_retrans}, {@code tcpi_last_ack_recv}), and the receiving side's RTT
 * estimate ({@code tcpi_rcv_rtt}) as Linux keeps it with TCP timestamps: every segment carries the time it left
 * (TSval) and echoes the latest one its sender received from the far end (TSecr); a full-sized data segment
 * echoing a new TSecr is a sample of the time from the receiver's last segment (an acknowledgement, usually) to the
 * data it drew, the data's queue included; a lower sample is taken at once, a higher one with a gain of 1/8
 * ({@code tcp_rcv_rtt_measure_ts()}, {@code tcp_rcv_rtt_update()} in {@code net/ipv4/tcp_input.c}).
 * The send queue reports room up to {@code notSentLowat} unsent bytes, like a socket with
 * {@code TCP_NOTSENT_LOWAT} set.
 */
final class SimTcp {

    static final int MSS = 1448;

    /** One direction of the connection. */
    final class Pipe {
        private final int dir;
        private Consumer<ByteBuffer> receiver;
        private final ArrayDeque<byte[]> notSent = new ArrayDeque<>();
        private int headOffset;
        private long notSentBytes;
        private long nextSeq;
        private long inflight;
        private double cwnd = 10 * MSS;
        private double ssthresh = Double.MAX_VALUE;
        private final double maxCwnd;
        private long lastReductionAt = Long.MIN_VALUE;
        private final Map<Long, SimSegment> unacked = new HashMap<>();
        /** Dropped retransmissions waiting for their timeout, which RACK may detect first. */
        private final ArrayDeque<SimSegment> awaitingTimeout = new ArrayDeque<>();
        /** The connection's retransmission timer for those, re-armed by every acknowledgement with an RTT sample. */
        private long retransmitTimerAt = Long.MAX_VALUE;
        private boolean retransmitTimerScheduled;
        private long rcvNext;
        private final TreeMap<Long, byte[]> outOfOrder = new TreeMap<>();
        private double srttNanos;
        long bytesDelivered;
        /** The cumulative acknowledgement: every byte below it was delivered in order. */
        private long sndUna;
        /** Bytes the receiver got over the connection's life, out of order ones included (tcpi_delivered). */
        private long sackedDelivered;
        /** Bytes presumed lost and not yet sent again (tcpi_lost). */
        private long lostBytes;
        /** Bytes sent again and not yet acknowledged (tcpi_retrans). */
        private long retransBytes;
        private long lastAckAt = Long.MIN_VALUE;
        /** Sender: the latest TSval received from the far end (TCP's {@code ts_recent}), echoed as TSecr; -1 before. */
        private long tsRecent = -1;
        /** Receiver: the TSecr of the last data segment sampled ({@code rcv_rtt_last_tsecr}). */
        private long lastSampledTsecr = -1;
        /** Receiver: its estimate of this direction's data RTT ({@code rcv_rtt_est}), 0 before a sample. */
        private double rcvRttNanos;

        private Pipe(int dir) {
            this.dir = dir;
            this.maxCwnd = Math.max(20 * MSS, link.bbrLike ? 2 * link.bdpBytes() : link.bdpBytes() + link.queueLimitBytes);
            this.srttNanos = link.rttNanos;
        }

        void receiver(Consumer<ByteBuffer> receiver) {
            this.receiver = receiver;
        }

        void write(byte[] bytes) {
            if (closed || bytes.length == 0) {
                return;
            }
            notSent.addLast(bytes);
            notSentBytes += bytes.length;
            trySend();
        }

        /** The sending end's socket as {@code TCP_INFO} shows it: this direction's sender, the other's receiver. */
        SubflowEstimates estimates() {
            long unacked = nextSeq - sndUna;
            return new SubflowEstimates((long) srttNanos, (long) cwnd, unacked, notSentBytes,
                    Math.max(0, notSentLowat - notSentBytes), sackedDelivered, unacked - inflight, lostBytes,
                    retransBytes, lastAckAt == Long.MIN_VALUE ? -1 : queue.now() - lastAckAt,
                    (long) reverse().rcvRttNanos);
        }

        private Pipe reverse() {
            return dir == 0 ? down : up;
        }

        private void trySend() {
            while (!closed && notSentBytes > 0 && (inflight == 0 || inflight + MSS <= sendLimit())) {
                int length = (int) Math.min(MSS, notSentBytes);
                byte[] data = new byte[length];
                int filled = 0;
                while (filled < length) {
                    byte[] head = notSent.peekFirst();
                    int n = Math.min(length - filled, head.length - headOffset);
                    System.arraycopy(head, headOffset, data, filled, n);
                    filled += n;
                    headOffset += n;
                    if (headOffset == head.length) {
                        notSent.pollFirst();
                        headOffset = 0;
                    }
                }
                notSentBytes -= length;
                SimSegment segment = new SimSegment(nextSeq, data);
                nextSeq += length;
                inflight += length;
                unacked.put(segment.seq, segment);
                transmit(segment);
            }
        }

        /** The window, or less while the link's sender holds a rate ({@link SimLink#senderHeldBitsPerSecond}). */
        private double sendLimit() {
            if (dir != 1 || link.senderHeldBitsPerSecond <= 0) {
                return cwnd;
            }
            return Math.min(cwnd, link.senderHeldBitsPerSecond / 8e9 * link.rttNanos);
        }

        private void transmit(SimSegment segment) {
            long now = queue.now();
            segment.sentAt = now;
            segment.tsecr = tsRecent;
            segment.transmissions++;
            if (segment.transmissions > 1 && !segment.retransCounted) {
                segment.retransCounted = true;
                retransBytes += segment.data.length;
            }
            long arrival = link.transmit(dir, segment.data.length, now);
            if (arrival < 0) {
                lost(segment);
                return;
            }
            int transmission = segment.transmissions;
            queue.at(arrival, () -> arrive(segment, transmission));
        }

        private void lost(SimSegment segment) {
            long now = queue.now();
            long delay;
            if (link.blackholed || segment.transmissions > 1) {
                segment.rtoBackoff = segment.rtoBackoff == 0 ? 1 : Math.min(segment.rtoBackoff * 2, 8);
                delay = Math.max(200_000_000L, 2 * (long) srttNanos) * segment.rtoBackoff;
            } else {
                delay = (long) srttNanos + 2_000_000L;
                if (!link.bbrLike && now - lastReductionAt > srttNanos) {
                    ssthresh = Math.max(2 * MSS, cwnd / 2);
                    cwnd = ssthresh;
                    lastReductionAt = now;
                }
            }
            lostBytes += segment.data.length;
            int lostTransmission = segment.transmissions;
            segment.awaitingResend = true;
            if (segment.transmissions > 1 && !segment.awaitingTimeout) {
                segment.awaitingTimeout = true;
                awaitingTimeout.addLast(segment);
            }
            queue.at(now + delay, () -> sendAgain(segment, lostTransmission));
        }

        /**
         * Linux keeps one retransmission timer per connection and re-arms it, backoff reset, on every acknowledgement
         * that carries a valid RTT sample ({@code tcp_ack_update_rtt()}: "RFC6298: only reset backoff on valid RTT
         * measurement"; {@code tcp_rearm_rto()}): a dropped retransmission that RACK cannot detect (nothing sent after
         * it was acknowledged) is sent again one un-backed-off timeout after the last such acknowledgement, not after
         * a backoff its segment built up while the path was down.
         */
        private void rearmRetransmitTimer() {
            for (SimSegment waiting : awaitingTimeout) {
                waiting.rtoBackoff = 0;
            }
            retransmitTimerAt = queue.now() + Math.max(200_000_000L, 2 * (long) srttNanos);
            if (!retransmitTimerScheduled) {
                retransmitTimerScheduled = true;
                queue.at(retransmitTimerAt, this::retransmitTimerFired);
            }
        }

        private void retransmitTimerFired() {
            if (queue.now() < retransmitTimerAt) {
                queue.at(retransmitTimerAt, this::retransmitTimerFired);
                return;
            }
            retransmitTimerScheduled = false;
            retransmitTimerAt = Long.MAX_VALUE;
            int pending = awaitingTimeout.size();
            for (int i = 0; i < pending; i++) {
                SimSegment lost = awaitingTimeout.pollFirst();
                lost.awaitingTimeout = false;
                sendAgain(lost, lost.transmissions);
            }
        }

        /** Sends a dropped segment again unless it was acknowledged or already sent again (by RACK). */
        private void sendAgain(SimSegment segment, int lostTransmission) {
            if (!segment.awaitingResend || segment.transmissions != lostTransmission) {
                return;
            }
            segment.awaitingResend = false;
            lostBytes -= segment.data.length;
            if (!closed && unacked.containsKey(segment.seq)) {
                transmit(segment);
            }
        }

        /**
         * RACK: a dropped retransmission that left before the acknowledged transmission is lost once that
         * transmission's RTT plus the reordering window has passed since it left.
         */
        private void detectLostRetransmissions(long ackedSentAt, long ackedRtt) {
            long reorderingWindow = link.rttNanos / 4;
            int pending = awaitingTimeout.size();
            for (int i = 0; i < pending; i++) {
                SimSegment lost = awaitingTimeout.pollFirst();
                if (!lost.awaitingResend || !unacked.containsKey(lost.seq)) {
                    lost.awaitingTimeout = false;
                    continue;
                }
                if (lost.sentAt >= ackedSentAt) {
                    awaitingTimeout.addLast(lost);
                    continue;
                }
                lost.awaitingTimeout = false;
                int lostTransmission = lost.transmissions;
                long due = Math.max(queue.now(), lost.sentAt + ackedRtt + reorderingWindow);
                queue.at(due, () -> sendAgain(lost, lostTransmission));
            }
        }

        private void arrive(SimSegment segment, int transmission) {
            if (closed) {
                return;
            }
            if (link.lateUntil[dir] > queue.now()) {
                queue.at(link.lateUntil[dir], () -> arrive(segment, transmission));
                return;
            }
            sampleReceiveRtt(segment);
            if (segment.seq >= rcvNext && !outOfOrder.containsKey(segment.seq)) {
                outOfOrder.put(segment.seq, segment.data);
                while (!outOfOrder.isEmpty() && outOfOrder.firstKey() == rcvNext) {
                    byte[] data = outOfOrder.pollFirstEntry().getValue();
                    rcvNext += data.length;
                    bytesDelivered += data.length;
                    receiver.accept(ByteBuffer.wrap(data));
                    if (closed) {
                        return;
                    }
                }
            }
            long ackSentAt = queue.now();
            long ackAt = link.ackArrival(ackSentAt);
            long cumulative = rcvNext;
            if (ackAt >= 0) {
                queue.at(ackAt, () -> acked(segment, transmission, cumulative, ackSentAt));
            }
        }

        /**
         * The receiver's side of a segment's timestamps: its TSval is the far end's newest (what that end echoes
         * next, on the other direction), and a full-sized one echoing a new TSecr is a receive RTT sample.
         */
        private void sampleReceiveRtt(SimSegment segment) {
            Pipe reverse = reverse();
            reverse.tsRecent = Math.max(reverse.tsRecent, segment.sentAt);
            if (segment.tsecr < 0 || segment.tsecr == lastSampledTsecr) {
                return;
            }
            lastSampledTsecr = segment.tsecr;
            if (segment.data.length < MSS) {
                return;
            }
            double sample = queue.now() - segment.tsecr;
            rcvRttNanos = rcvRttNanos == 0 || sample < rcvRttNanos ? sample : 0.875 * rcvRttNanos + 0.125 * sample;
        }

        private void acked(SimSegment segment, int transmission, long cumulative, long ackSentAt) {
            if (closed) {
                return;
            }
            tsRecent = Math.max(tsRecent, ackSentAt);
            lastAckAt = queue.now();
            sndUna = Math.max(sndUna, cumulative);
            if (unacked.remove(segment.seq) == null) {
                return;
            }
            sackedDelivered += segment.data.length;
            if (segment.retransCounted) {
                retransBytes -= segment.data.length;
            }
            inflight -= segment.data.length;
            if (transmission == segment.transmissions) {
                double sample = queue.now() - segment.sentAt;
                srttNanos = 0.875 * srttNanos + 0.125 * sample;
                if (!awaitingTimeout.isEmpty()) {
                    detectLostRetransmissions(segment.sentAt, queue.now() - segment.sentAt);
                    rearmRetransmitTimer();
                }
            }
            if (cwnd < ssthresh) {
                cwnd += segment.data.length;
            } else {
                cwnd += (double) MSS * segment.data.length / cwnd;
            }
            cwnd = Math.min(cwnd, maxCwnd);
            trySend();
            onProgress.run();
        }
    }

    private static final class SimSegment {
        final long seq;
        final byte[] data;
        long sentAt;
        /** The TSecr it carried when it last left. */
        long tsecr = -1;
        int transmissions;
        int rtoBackoff;
        /** Dropped and not yet sent again. */
        boolean awaitingResend;
        /** In {@code awaitingTimeout}. */
        boolean awaitingTimeout;
        boolean retransCounted;

        SimSegment(long seq, byte[] data) {
            this.seq = seq;
            this.data = data;
        }
    }

    final SimLink link;
    private final EventQueue queue;
    private final long notSentLowat;
    private final Runnable onProgress;
    final Pipe up;
    final Pipe down;
    boolean closed;

    SimTcp(SimLink link, EventQueue queue, long notSentLowat, Runnable onProgress) {
        this.link = link;
        this.queue = queue;
        this.notSentLowat = notSentLowat;
        this.onProgress = onProgress;
        this.up = new Pipe(0);
        this.down = new Pipe(1);
    }

    void close() {
        closed = true;
    }
}
