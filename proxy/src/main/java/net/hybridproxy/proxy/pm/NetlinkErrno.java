package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.nativeio.Errno;

/** errno names for the few values the path manager returns that the shared {@link Errno} table does not list. */
final class NetlinkErrno {
    static final int E2BIG = 7;
    static final int ENOSPC = 28;
    static final int ERANGE = 34;
    static final int EMSGSIZE = 90;
    static final int ENOBUFS = 105;

    private NetlinkErrno() {
    }

    static String name(int errno) {
        return switch (errno) {
            case E2BIG -> "E2BIG";
            case ENOSPC -> "ENOSPC";
            case ERANGE -> "ERANGE";
            case EMSGSIZE -> "EMSGSIZE";
            case ENOBUFS -> "ENOBUFS";
            default -> Errno.name(errno);
        };
    }
}
