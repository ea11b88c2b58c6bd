package net.hybridproxy.loadtest.lab;

/**
 * The stall criterion every transfer in the lab is judged by: a 100 ms interval, after the transfer's first second,
 * whose goodput is below 10 % of the transfer's mean goodput is a stall; consecutive ones make one longer stall.
 * The first second is left out because slow start and the proxies' connection setup legitimately deliver little.
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
     * transfer. The transfer ends with its last non-empty interval, which is partial and so never counts; the mean
     * is taken over the intervals up to it.
     */
    public static long longestMs(long[] bytesPerBucket) {
        int last = bytesPerBucket.length - 1;
        while (last >= 0 && bytesPerBucket[last] == 0) {
            last--;
        }
        if (last <= GRACE_BUCKETS) {
            return 0;
        }
        long total = 0;
        for (int i = 0; i <= last; i++) {
            total += bytesPerBucket[i];
        }
        double threshold = 0.1 * total / (last + 1);
        int longest = 0;
        int current = 0;
        for (int i = GRACE_BUCKETS; i < last; i++) {
            current = bytesPerBucket[i] < threshold ? current + 1 : 0;
            longest = Math.max(longest, current);
        }
        return (long) longest * BUCKET_MS;
    }
}
