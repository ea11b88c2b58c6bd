package net.hybridproxy.proxy.relay;

import io.netty.channel.ChannelFactory;
import io.netty.channel.socket.ServerSocketChannel;
import net.hybridproxy.proxy.transport.Transport;

/**
 * An MPTCP listener under io_uring relaying to plain TCP: the concentrator's shape, which io_uring carries
 * correctly (unlike outbound MPTCP connections, see {@link IoUringMptcpOutboundRelayTest}).
 */
class IoUringMptcpListenerRelayTest extends RelayTransportSuite {
    @Override
    Transport transport() {
        return Transport.IO_URING;
    }

    @Override
    ChannelFactory<? extends ServerSocketChannel> listenerFactory(Transport transport) {
        return transport.mptcpServer();
    }
}
