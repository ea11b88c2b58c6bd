package net.hybridproxy.proxy.relay;

import io.netty.channel.ChannelFactory;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import net.hybridproxy.proxy.transport.Transport;

import java.net.InetSocketAddress;

/** The same relay behaviour with MPTCP sockets on both Netty sides (listener and backend connection). */
class EpollMptcpRelayTest extends RelayTransportSuite {
    @Override
    Transport transport() {
        return Transport.EPOLL;
    }

    @Override
    ChannelFactory<? extends SocketChannel> backendFactory(Transport transport, InetSocketAddress backend) {
        // As the cpe's connects to an IPv4 concentrator: an IPv4 MPTCP socket.
        return transport.mptcpClient(backend);
    }

    @Override
    ChannelFactory<? extends ServerSocketChannel> listenerFactory(Transport transport) {
        return transport.mptcpServer();
    }
}
