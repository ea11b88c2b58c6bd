package net.hybridproxy.loadtest.lab.emu;

/**
 * What one link emulator reports for the period since its previous report, per direction ({@code stats} on its
 * control channel, as JSON).
 */
public record EmulatorStats(DirectionStats up, DirectionStats down) {

    /**
     * One direction of the link.
     *
     * @param name           the direction's name, {@code <link>-up} or {@code <link>-down}
     * @param admitted       packets the schedule admitted
     * @param written        packets written to the far device
     * @param lossDrops      packets dropped by the configured loss
     * @param queueDrops     packets dropped because the emulated queue was full
     * @param blackholeDrops packets dropped while blackholed
     * @param ringDrops      packets dropped because the emulator's ring was full (a sizing error)
     * @param lateUsP50      how late the emulator wrote packets compared with the schedule, µs (its own jitter)
     */
    public record DirectionStats(String name, long admitted, long written, long writtenBytes, long lossDrops,
                            long queueDrops, long blackholeDrops, long ringDrops, long writeErrors, long lateUsP50,
                            long lateUsP99, long lateUsP999, long lateUsMax, long lateSamples) {
    }
}
