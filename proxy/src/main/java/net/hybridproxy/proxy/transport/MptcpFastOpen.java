package net.hybridproxy.proxy.transport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Whether this kernel's MPTCP TCP Fast Open path can be used.
 *
 * <p>Every kernel with MPTCP fast open measured so far (6.2 introduced it; 6.18.44 is the latest measured) drops
 * data of a TFO-opened MPTCP connection as outside the MPTCP receive window after its subflow has acknowledged it
 * ({@code MPTcpExtNoDSSInWindow}); the sender recovers only through the MPTCP-level retransmission timer, one chunk
 * per 200 ms or more, and a download collapses to about 1 Mb/s. The standalone reproducer is
 * {@code loadtest/repro/mptcp-tfo/run.sh}; docs/decisions.md has the evidence. No fixed release is known, so every
 * kernel from 6.2 on counts as affected; raise {@link #FIRST_FIXED_MAJOR}/{@link #FIRST_FIXED_MINOR} once the
 * reproducer passes on a release.
 */
public final class MptcpFastOpen {
    /** The first release with MPTCP fast open at all. */
    private static final int FIRST_MAJOR = 6;
    private static final int FIRST_MINOR = 2;
    /** None known yet: no release is exempted. */
    static final int FIRST_FIXED_MAJOR = Integer.MAX_VALUE;
    static final int FIRST_FIXED_MINOR = 0;

    private MptcpFastOpen() {
    }

    /** True when {@code release} (as {@code uname -r} prints it) has MPTCP fast open and it is known to collapse. */
    public static boolean brokenOn(String release) {
        return atLeast(release, FIRST_MAJOR, FIRST_MINOR) && !atLeast(release, FIRST_FIXED_MAJOR, FIRST_FIXED_MINOR);
    }

    /** The running kernel's release, when readable. */
    public static Optional<String> runningRelease() {
        try {
            return Optional.of(Files.readString(Path.of("/proc/sys/kernel/osrelease")).trim());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Whether the project may turn TFO on for MPTCP sockets here (false on affected or unknown kernels). */
    public static boolean usableHere() {
        return runningRelease().map(r -> !brokenOn(r)).orElse(false);
    }

    /** Whether {@code release} is at least {@code major.minor}; an unparsable release is not. */
    public static boolean atLeast(String release, int major, int minor) {
        String[] parts = release.split("[.-]");
        try {
            int ma = Integer.parseInt(parts[0]);
            int mi = Integer.parseInt(parts[1]);
            return ma > major || (ma == major && mi >= minor);
        } catch (RuntimeException e) {
            return false;
        }
    }
}
