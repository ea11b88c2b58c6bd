package net.hybridproxy.proxy.pm;

/**
 * Per-connection limits of the in-kernel path manager.
 *
 * @param subflows        additional subflows a connection may have (the kernel allows at most 8)
 * @param addAddrAccepted peer ADD_ADDR announcements a connection acts on (at most 8)
 */
public record MptcpLimits(int subflows, int addAddrAccepted) {
    public MptcpLimits {
        if (subflows < 0 || addAddrAccepted < 0) {
            throw new IllegalArgumentException("limits must not be negative: " + subflows + ", " + addAddrAccepted);
        }
    }
}
