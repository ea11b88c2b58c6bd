package net.hybridproxy.proxy.transport;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import org.junit.jupiter.api.Test;

import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The system calls behind the relay's unblocking of a stopped kernel receive path, on a real MPTCP socket over
 * loopback: a socket with bytes readable in order is not taken for a stopped one, however much it holds, and
 * unblocking gives it a receive buffer twice the size asked for. (The stopped state itself is the kernel's and
 * shows only in the namespace lab, docs/decisions.md.)
 */
class MptcpReceiveStallTest {
    @Test
    void aSocketWithBytesInOrderIsNotStalledAndUnblockingRaisesItsReceiveBuffer() throws Exception {
        assumeTrue(Epoll.isAvailable(), "epoll is not available here");
        Transport transport = Transport.EPOLL;
        EventLoopGroup group = transport.newEventLoopGroup(1, "receive-stall-test");
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Channel client = new Bootstrap().group(group).channelFactory(transport.mptcpClient())
                    .option(ChannelOption.AUTO_READ, false)
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), listener.getLocalPort()))
                    .sync().channel();
            try (Socket accepted = listener.accept()) {
                OutputStream out = accepted.getOutputStream();
                // More than the initial 128 KiB receive buffer holds, in a thread: the writes block once it is full.
                Thread writer = Thread.ofVirtual().start(() -> {
                    try {
                        out.write(new byte[1 << 20]);
                    } catch (java.io.IOException closed) {
                        // the test is over
                    }
                });
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (NativeSocketOptions.bytesToRead(client) < 64 * 1024 && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertTrue(NativeSocketOptions.bytesToRead(client) >= 64 * 1024, "setup: bytes queued for reading");
                assertEquals(0, MptcpReceiveStall.stalledBytes(client), "bytes readable in order are no stall");

                assertTrue(MptcpReceiveStall.unblock(client, 100_000), "bytes readable after unblocking");
                int buffer = client.config().getOption(ChannelOption.SO_RCVBUF);
                assertTrue(buffer >= 2 * 100_000, "receive buffer " + buffer + " after asking for 100 000");
                client.close().sync();
                writer.join(10_000);
            }
        } finally {
            group.shutdownGracefully().sync();
        }
    }
}
