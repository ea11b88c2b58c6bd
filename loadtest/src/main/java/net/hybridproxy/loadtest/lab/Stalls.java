package net.hybridproxy.loadtest.lab;

/**
 * The stall criterion every transfer in the lab is judged by: a 100 ms interval, after the transfer's first second,
 * whose goodput is below 10 % of the transfer's mean goodput is a stall; consecutive ones make one longer stall.
 * The transfer begins with its first byte: the wait for it is the time to first byte, reported on its own. The
 * first second is left out because slow start and the proxies' connection setup legitimately deliver little.
 */
public final class Stalls {
    /** Width of one interval. */
    public static final int BUCKET_MS = 100;
    /** Intervals at the start that are never stalls (one second). */
    static final int GRACE_BUCKETS = 1000 / BUCKET_MS;

    private Stalls() {
    }

    /**
     * The longest stall in milliseconds, given the bytes received in each 100 ms interval from the start of the
     * transfer. The transfer runs from its first non-empty interval to its last, which is partial and so never
     * counts; the mean is taken over the intervals between them.
     */
    public static long longestMs(long[] bytesPerBucket) {
        return longest(bytesPerBucket).lengthMs();
    }

    /**
     * The longest stall and where it began, in milliseconds after the transfer's first byte (its first non-empty
     * interval); the first of equally long ones. Where tells stalls of one mechanism apart from another's: a
     * sender's congestion control that pauses on a clock (BBR's PROBE_RTT, 10 s after its last minimum RTT) stalls
     * at the same offset in every download.
     *
     * @param bytesPerBucket the bytes received in each 100 ms interval from the start of the transfer
     * @return the longest stall; {@code lengthMs} 0 and {@code startAfterFirstByteMs} -1 when there is none
     */
    public static Stall longest(long[] bytesPerBucket) {
        int first = 0;
        while (first < bytesPerBucket.length && bytesPerBucket[first] == 0) {
            first++;
        }
        int last = bytesPerBucket.length - 1;
        while (last >= first && bytesPerBucket[last] == 0) {
            last--;
        }
        if (last - first <= GRACE_BUCKETS) {
            return Stall.NONE;
        }
        long total = 0;
        for (int i = first; i <= last; i++) {
            total += bytesPerBucket[i];
        }
        double threshold = 0.1 * total / (last - first + 1);
        int longest = 0;
        int longestStart = -1;
        int current = 0;
        for (int i = first + GRACE_BUCKETS; i < last; i++) {
            current = bytesPerBucket[i] < threshold ? current + 1 : 0;
            if (current > longest) {
                longest = current;
                longestStart = i - current + 1;
            }
        }
        return longest == 0 ? Stall.NONE
                : new Stall((long) longest * BUCKET_MS, (long) (longestStart - first) * BUCKET_MS);
    }

    /**
     * One stall of a transfer.
     *
     * @param lengthMs              how long it lasted, a multiple of {@link #BUCKET_MS}
     * @param startAfterFirstByteMs where it began, after the transfer's first byte; -1 for {@link #NONE}
     */
    public record Stall(long lengthMs, long startAfterFirstByteMs) {
        /** A transfer without a stall. */
        public static final Stall NONE = new Stall(0, -1);
    }
}
