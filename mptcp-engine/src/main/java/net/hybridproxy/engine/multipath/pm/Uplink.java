package net.hybridproxy.engine.multipath.pm;

import java.util.Objects;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;

/**
 * One of the cpe's uplinks (DSL, LTE, ...), as the path manager plans subflows over it.
 *
 * @param name      the name in configuration and metrics
 * @param addressId the id announced in JOIN_SYN for subflows over this uplink, 0..255
 * @param priority  how the subflows over it are used
 * @param subflows  how many warm subflows to keep over it, 1..8
 */
public record Uplink(String name, int addressId, SubflowPriority priority, int subflows) {

    public Uplink {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(priority, "priority");
        if (addressId < 0 || addressId > 255) {
            throw new IllegalArgumentException("address id " + addressId + " is outside 0..255");
        }
        if (subflows < 1 || subflows > 8) {
            throw new IllegalArgumentException("subflows per uplink " + subflows + " is outside 1..8");
        }
    }
}
