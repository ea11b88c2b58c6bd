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
 * @param srttNanos      the TCP smoothed RTT, 0 if unknown
 * @param cwndBytes      the congestion window in bytes, 0 if unknown
 * @param inflightBytes  bytes sent and not yet acknowledged by TCP
 * @param notSentBytes   bytes in the socket not yet sent
 * @param sendSpaceBytes bytes the socket accepts now without growing its queue
 */
public record SubflowEstimates(long srttNanos, long cwndBytes, long inflightBytes, long notSentBytes,
                               long sendSpaceBytes) {

    public SubflowEstimates {
        if (srttNanos < 0 || cwndBytes < 0 || inflightBytes < 0 || notSentBytes < 0 || sendSpaceBytes < 0) {
            throw new IllegalArgumentException("estimates are never negative: " + srttNanos + ", " + cwndBytes + ", "
                    + inflightBytes + ", " + notSentBytes + ", " + sendSpaceBytes);
        }
    }

    /** Nothing known yet: the socket takes {@code space} bytes. */
    public static SubflowEstimates unknown(long space) {
        return new SubflowEstimates(0, 0, 0, 0, space);
    }
}
