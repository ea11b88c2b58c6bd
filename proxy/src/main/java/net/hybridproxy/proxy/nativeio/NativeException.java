package net.hybridproxy.proxy.nativeio;

import java.io.IOException;

/** A failed system call, with its errno kept so callers can map specific failures to advice. */
public final class NativeException extends IOException {
    private final String call;
    private final int errno;

    public NativeException(String call, int errno) {
        super(call + " failed: " + Errno.name(errno) + " (" + Errno.describe(errno) + ")");
        this.call = call;
        this.errno = errno;
    }

    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }
}
