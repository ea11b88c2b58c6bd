package net.hybridproxy.proxy.relay;

import net.hybridproxy.proxy.transport.Transport;

class NioRelayTest extends RelayTransportSuite {
    @Override
    Transport transport() {
        return Transport.NIO;
    }
}
