package net.hybridproxy.proxy.pm;

import java.io.IOException;

/**
 * A netlink message whose lengths do not add up (truncated datagram, attribute running past its parent, an
 * integer attribute shorter than its type). Raised instead of letting a bad length turn into an index error
 * somewhere deep in the parser, so the log says what was wrong with the bytes.
 */
public final class MalformedNetlinkMessageException extends IOException {
    public MalformedNetlinkMessageException(String message) {
        super(message);
    }
}
