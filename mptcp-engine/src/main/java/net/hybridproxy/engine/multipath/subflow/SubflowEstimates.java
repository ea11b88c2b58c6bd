package net.hybridproxy.engine.multipath.subflow;

/**
 * What the adapter knows about one subflow's TCP connection, as the scheduler needs it.
 *
 * <p>The Netty adapter fills this from {@code TCP_INFO} ({@code tcpi_rtt}, {@code tcpi_snd_cwnd}
 * times {@code tcpi_snd_mss}, {@code tcpi_unacked} times the MSS, {@code tcpi_notsent_bytes}) and
 * from the channel's writability ({@code Channel.bytesBeforeUnwritable()}), after every flush and
 * on every writability change. Unknown values are 0; the engine then falls back to its own probe
 * RTT and to {@code sendSpaceBytes} alone.
 *
 * <p>{@code sendSpaceBytes} is the most important field: how many more bytes the local socket
 * should take right now. It must be small (a few tens of kilobytes beyond the congestion window;
 * set {@code TCP_NOTSENT_LOWAT} and the channel's write-buffer water marks accordingly): bytes
 * parked in a socket can no longer be scheduled elsewhere, and a deep socket queue on the slow
 * path is exactly what makes multipath slower than its best path.
 *
 * <p>The last five fields say how the connection is delivering, counting what the peer's TCP holds out of order
 * (SACKed) as delivered: its cumulative acknowledgement ({@code inflightBytes} counts down from it) stands still
 * while a lossy path repairs a loss, although the path keeps delivering. From {@code tcpi_delivered},
 * {@code tcpi_sacked}, {@code tcpi_lost} and {@code tcpi_retrans} times the MSS, and {@code tcpi_last_ack_recv}.
 *
 * @param srttNanos         the TCP smoothed RTT, 0 if unknown
 * @param cwndBytes         the congestion window in bytes, 0 if unknown
 * @param inflightBytes     bytes sent and not yet cumulatively acknowledged by TCP (SACKed ones included, as
 *                          {@code tcpi_unacked} counts them)
 * @param notSentBytes      bytes in the socket not yet sent
 * @param sendSpaceBytes    bytes the socket accepts now without growing its queue
 * @param deliveredBytes    bytes the peer's TCP received over the connection's life, SACKed ones included (a counter
 *                          that only grows), 0 if unknown
 * @param sackedBytes       bytes above the cumulative acknowledgement the peer's TCP SACKed
 * @param lostBytes         bytes TCP currently presumes lost (a loss repair is under way while it is above 0)
 * @param retransBytes      bytes retransmitted and not yet acknowledged
 * @param sinceLastAckNanos how long ago the connection last received an acknowledgement, -1 if unknown
 * @param rcvRttNanos       the receiving side's estimate of the data's RTT ({@code tcpi_rcv_rtt}: with timestamps,
 *                          from this end's segment leaving to the data that echoed it arriving, the path's queue
 *                          included, where {@code srttNanos} is the RTT of what this end sent), 0 if unknown
 */
public record SubflowEstimates(long srttNanos, long cwndBytes, long inflightBytes, long notSentBytes,
                               long sendSpaceBytes, long deliveredBytes, long sackedBytes, long lostBytes,
                               long retransBytes, long sinceLastAckNanos, long rcvRttNanos) {

    public SubflowEstimates {
        if (srttNanos < 0 || cwndBytes < 0 || inflightBytes < 0 || notSentBytes < 0 || sendSpaceBytes < 0
                || deliveredBytes < 0 || sackedBytes < 0 || lostBytes < 0 || retransBytes < 0
                || sinceLastAckNanos < -1 || rcvRttNanos < 0) {
            throw new IllegalArgumentException("estimates are never negative: " + srttNanos + ", " + cwndBytes + ", "
                    + inflightBytes + ", " + notSentBytes + ", " + sendSpaceBytes + ", " + deliveredBytes + ", "
                    + sackedBytes + ", " + lostBytes + ", " + retransBytes + ", " + sinceLastAckNanos + ", "
                    + rcvRttNanos);
        }
    }

    /** Estimates without the delivery signals (a transport that does not report them). */
    public SubflowEstimates(long srttNanos, long cwndBytes, long inflightBytes, long notSentBytes,
                            long sendSpaceBytes) {
        this(srttNanos, cwndBytes, inflightBytes, notSentBytes, sendSpaceBytes, 0, 0, 0, 0, -1, 0);
    }

    /** Whether TCP is repairing a loss: it presumes bytes lost, or has retransmitted ones not yet acknowledged. */
    public boolean repairingLoss() {
        return lostBytes > 0 || retransBytes > 0;
    }

    /** Nothing known yet: the socket takes {@code space} bytes. */
    public static SubflowEstimates unknown(long space) {
        return new SubflowEstimates(0, 0, 0, 0, space);
    }
}
