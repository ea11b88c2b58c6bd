package net.hybridproxy.proxy.userspace;

import net.hybridproxy.proxy.transport.Transport;

class EpollUserspacePairTest extends UserspacePairSuite {
    @Override
    Transport transport() {
        return Transport.EPOLL;
    }
}
