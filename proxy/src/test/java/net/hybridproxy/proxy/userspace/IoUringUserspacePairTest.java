package net.hybridproxy.proxy.userspace;

import net.hybridproxy.proxy.transport.Transport;

class IoUringUserspacePairTest extends UserspacePairSuite {
    @Override
    Transport transport() {
        return Transport.IO_URING;
    }
}
