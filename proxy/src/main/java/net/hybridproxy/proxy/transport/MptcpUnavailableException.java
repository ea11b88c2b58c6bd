package net.hybridproxy.proxy.transport;

import net.hybridproxy.proxy.nativeio.Errno;
import net.hybridproxy.proxy.nativeio.NativeException;

/** The kernel would not create an MPTCP socket; the message says what the operator can do about it. */
public final class MptcpUnavailableException extends Exception {
    public MptcpUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }

    /** Maps socket(..., IPPROTO_MPTCP) failures to one line of advice. */
    public static MptcpUnavailableException from(NativeException e) {
        String advice = switch (e.errno()) {
            case Errno.EINVAL -> "the kernel does not know IPPROTO_MPTCP (it predates Linux 5.6): "
                    + "upgrade the kernel or use a host with MPTCP";
            case Errno.EPROTONOSUPPORT -> "the kernel was built without MPTCP (CONFIG_MPTCP=n): "
                    + "use a kernel with CONFIG_MPTCP=y";
            case Errno.ENOPROTOOPT -> "MPTCP is disabled in this network namespace: run "
                    + "'sysctl -w net.mptcp.enabled=1'";
            case Errno.EAFNOSUPPORT -> "this address family has no MPTCP support here (IPv6 needs CONFIG_MPTCP_IPV6)";
            case Errno.EPERM, Errno.EACCES -> "a security policy (seccomp, SELinux, container runtime) forbids "
                    + "MPTCP sockets: allow socket(..., IPPROTO_MPTCP=262)";
            default -> "socket(IPPROTO_MPTCP) failed with " + Errno.name(e.errno());
        };
        return new MptcpUnavailableException("MPTCP socket unavailable: " + advice, e);
    }
}
