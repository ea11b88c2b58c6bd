package net.hybridproxy.proxy.pm;

import java.io.IOException;
import java.util.Optional;

/**
 * The kernel refused a netlink request. Carries the command, what it was about, the errno and the kernel's
 * extended-ack text, because "EINVAL" alone rarely tells an operator which of a request's attributes was wrong.
 */
public final class NetlinkException extends IOException {
    private final String command;
    private final int errno;
    private final String extAck;

    public NetlinkException(String command, String subject, int errno, String extAck) {
        super(format(command, subject, errno, extAck));
        this.command = command;
        this.errno = errno;
        this.extAck = extAck;
    }

    private static String format(String command, String subject, int errno, String extAck) {
        StringBuilder sb = new StringBuilder(command);
        if (subject != null && !subject.isEmpty()) {
            sb.append(' ').append(subject);
        }
        sb.append(" failed: ").append(NetlinkErrno.name(errno));
        if (extAck != null && !extAck.isEmpty()) {
            sb.append(" (kernel: ").append(extAck).append(')');
        }
        return sb.toString();
    }

    /** The request that failed, e.g. {@code MPTCP_PM_CMD_ADD_ADDR}. */
    public String command() {
        return command;
    }

    /** The positive errno the kernel returned. */
    public int errno() {
        return errno;
    }

    /** The kernel's extended-ack message, when it sent one. */
    public Optional<String> extAck() {
        return Optional.ofNullable(extAck);
    }
}
