package net.hybridproxy.proxy.pm;

import java.util.Collection;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/** MPTCP endpoint flags ({@code MPTCP_PM_ADDR_FLAG_*}), with the kernel's bit values. */
public enum EndpointFlag {
    /** Announce this address to the peer (ADD_ADDR). */
    SIGNAL(1 << 0),
    /** Open subflows from this address to the peer. */
    SUBFLOW(1 << 1),
    /** Subflows from this address are only used when no non-backup subflow is usable. */
    BACKUP(1 << 2),
    /** One subflow from this address to every address the peer announced. */
    FULLMESH(1 << 3),
    /** Created by the kernel for an address a subflow used without an endpoint; not set by us. */
    IMPLICIT(1 << 4),
    /** Linux 6.18+: subflows to every announced peer address, without the fullmesh limits. */
    LAMINAR(1 << 5);

    private final int bit;

    EndpointFlag(int bit) {
        this.bit = bit;
    }

    public int bit() {
        return bit;
    }

    /** The flags in a kernel bit mask; bits this enum does not know are ignored. */
    public static Set<EndpointFlag> fromBits(int bits) {
        EnumSet<EndpointFlag> set = EnumSet.noneOf(EndpointFlag.class);
        for (EndpointFlag f : values()) {
            if ((bits & f.bit) != 0) {
                set.add(f);
            }
        }
        return set;
    }

    public static int toBits(Collection<EndpointFlag> flags) {
        int bits = 0;
        for (EndpointFlag f : flags) {
            bits |= f.bit;
        }
        return bits;
    }

    /** The keyword {@code ip mptcp endpoint} uses for this flag. */
    public String keyword() {
        return name().toLowerCase(Locale.ROOT);
    }
}
