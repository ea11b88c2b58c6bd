package net.hybridproxy.proxy.relay;

import io.netty.channel.ChannelFactory;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import net.hybridproxy.proxy.transport.Transport;

import java.net.InetSocketAddress;

/**
 * MPTCP sockets on both Netty sides under io_uring, including the outbound connection, built by
 * {@link Transport#mptcpClient()} as the cpe and the sidecar build them. With Netty 4.2.18's default io_uring read
 * path this suite failed ({@code bulkBytesArriveIntactInBothDirectionsAtOnce}: the relay stopped reading the
 * outbound MPTCP socket; standalone reproducer in {@code loadtest/repro/iouring-mptcp}); the outbound channel now
 * reads through a provided-buffer ring (the {@link Transport} class comment), and this suite is what shows it relays.
 */
class IoUringMptcpOutboundRelayTest extends RelayTransportSuite {
    @Override
    Transport transport() {
        return Transport.IO_URING;
    }

    @Override
    ChannelFactory<? extends SocketChannel> backendFactory(Transport transport, InetSocketAddress backend) {
        return transport.mptcpClient(backend);
    }

    @Override
    ChannelFactory<? extends ServerSocketChannel> listenerFactory(Transport transport) {
        return transport.mptcpServer();
    }
}
