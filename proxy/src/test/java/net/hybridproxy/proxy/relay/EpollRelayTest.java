package net.hybridproxy.proxy.relay;

import net.hybridproxy.proxy.transport.Transport;

class EpollRelayTest extends RelayTransportSuite {
    @Override
    Transport transport() {
        return Transport.EPOLL;
    }
}
