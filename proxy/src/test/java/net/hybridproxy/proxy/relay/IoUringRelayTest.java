package net.hybridproxy.proxy.relay;

import net.hybridproxy.proxy.transport.Transport;

class IoUringRelayTest extends RelayTransportSuite {
    @Override
    Transport transport() {
        return Transport.IO_URING;
    }
}
