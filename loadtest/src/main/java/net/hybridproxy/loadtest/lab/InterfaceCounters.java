package net.hybridproxy.loadtest.lab;

/** Kernel byte and packet counters of one network interface, as seen from inside its namespace. */
public record InterfaceCounters(long rxBytes, long rxPackets, long txBytes, long txPackets) {

    /** Counter growth since an earlier snapshot of the same interface. */
    public InterfaceCounters since(InterfaceCounters earlier) {
        return new InterfaceCounters(rxBytes - earlier.rxBytes, rxPackets - earlier.rxPackets,
                txBytes - earlier.txBytes, txPackets - earlier.txPackets);
    }
}
