package net.hybridproxy.proxy.nativeio;

/** The errno values this appliance reacts to, with the names an operator would search for. */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    private static final int ENOMEM = 12;
    public static final int EACCES = 13;
    private static final int EBUSY = 16;
    public static final int EEXIST = 17;
    private static final int ENODEV = 19;
    public static final int EINVAL = 22;
    public static final int ENOPROTOOPT = 92;
    public static final int EPROTONOSUPPORT = 93;
    public static final int EOPNOTSUPP = 95;
    public static final int EAFNOSUPPORT = 97;
    private static final int EADDRINUSE = 98;
    private static final int EADDRNOTAVAIL = 99;
    public static final int ENETUNREACH = 101;
    public static final int ECONNRESET = 104;
    public static final int ETIMEDOUT = 110;
    public static final int ECONNREFUSED = 111;
    public static final int EHOSTUNREACH = 113;
    private static final int EINPROGRESS = 115;

    private Errno() {
    }

    public static String name(int errno) {
        return switch (errno) {
            case EPERM -> "EPERM";
            case ENOENT -> "ENOENT";
            case EINTR -> "EINTR";
            case EBADF -> "EBADF";
            case EAGAIN -> "EAGAIN";
            case ENOMEM -> "ENOMEM";
            case EACCES -> "EACCES";
            case EBUSY -> "EBUSY";
            case EEXIST -> "EEXIST";
            case ENODEV -> "ENODEV";
            case EINVAL -> "EINVAL";
            case ENOPROTOOPT -> "ENOPROTOOPT";
            case EPROTONOSUPPORT -> "EPROTONOSUPPORT";
            case EOPNOTSUPP -> "EOPNOTSUPP";
            case EAFNOSUPPORT -> "EAFNOSUPPORT";
            case EADDRINUSE -> "EADDRINUSE";
            case EADDRNOTAVAIL -> "EADDRNOTAVAIL";
            case ENETUNREACH -> "ENETUNREACH";
            case ECONNRESET -> "ECONNRESET";
            case ETIMEDOUT -> "ETIMEDOUT";
            case ECONNREFUSED -> "ECONNREFUSED";
            case EHOSTUNREACH -> "EHOSTUNREACH";
            case EINPROGRESS -> "EINPROGRESS";
            default -> "errno " + errno;
        };
    }

    public static String describe(int errno) {
        return switch (errno) {
            case EPERM -> "operation not permitted";
            case EACCES -> "permission denied";
            case EINVAL -> "invalid argument";
            case ENOPROTOOPT -> "protocol not available";
            case EPROTONOSUPPORT -> "protocol not supported";
            case EOPNOTSUPP -> "operation not supported";
            case EEXIST -> "already exists";
            case ENOENT -> "no such entry";
            case ENODEV -> "no such device";
            case EADDRNOTAVAIL -> "address not available";
            case EADDRINUSE -> "address in use";
            case ECONNREFUSED -> "connection refused";
            case ENETUNREACH -> "network unreachable";
            case EHOSTUNREACH -> "host unreachable";
            case ETIMEDOUT -> "timed out";
            case ECONNRESET -> "connection reset";
            default -> "see errno(3)";
        };
    }
}
