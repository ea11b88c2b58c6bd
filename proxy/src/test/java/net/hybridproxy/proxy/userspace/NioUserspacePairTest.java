package net.hybridproxy.proxy.userspace;

import net.hybridproxy.proxy.transport.Transport;

class NioUserspacePairTest extends UserspacePairSuite {
    @Override
    Transport transport() {
        return Transport.NIO;
    }
}
