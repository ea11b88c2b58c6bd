package net.hybridproxy.proxy.userspace;

import net.hybridproxy.proxy.transport.Transport;

/** The pair suite with protocol version 3: DATA frames of up to 64 KiB through the adapters' reads and writes. */
class EpollLargeFramesUserspacePairTest extends UserspacePairSuite {
    @Override
    Transport transport() {
        return Transport.EPOLL;
    }

    @Override
    boolean largeFrames() {
        return true;
    }
}
