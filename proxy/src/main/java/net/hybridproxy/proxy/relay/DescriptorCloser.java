package net.hybridproxy.proxy.relay;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.epoll.EpollSocketChannel;

import java.io.IOException;

/**
 * First in a relayed epoll channel's pipeline, so last to see a close on its way to the transport: closes the
 * socket's descriptor, then lets Netty close the channel, which finds it closed and skips two system calls.
 *
 * <ul>
 *   <li>{@code epoll_ctl(EPOLL_CTL_DEL)}: Netty removes an open descriptor from its epoll set before closing it; the
 *       kernel drops a closed descriptor from every epoll set by itself (epoll(7)). On a relay whose input was shut
 *       down first, Netty 4.2.18 had already deleted it (an empty interest set deletes the descriptor but leaves the
 *       registration marked added), so that DEL failed with ENOENT and Netty built a NativeIoException with a full
 *       stack trace for it, once per relay on each side (loadtest/repro/netty-epoll-del).</li>
 *   <li>{@code getsockopt(SO_LINGER)}: Netty reads it at every close of an open socket, to close one with a linger
 *       time on another thread. The relay never sets one (a reset sets 0, which closes at once).</li>
 * </ul>
 *
 * <p>Everything that reads the socket at close (the final subflow sample of {@code MultipathConnections}, which
 * sits first in the pipeline too) is added before the relay joins the pair, so it is behind this handler and runs
 * before the descriptor goes. Only for epoll: the io_uring transport may still have operations on the descriptor's
 * number in its ring and closes it through the ring.
 */
@ChannelHandler.Sharable
final class DescriptorCloser extends ChannelOutboundHandlerAdapter {
    static final DescriptorCloser INSTANCE = new DescriptorCloser();
    static final String NAME = "relay-close-descriptor";

    private DescriptorCloser() {
    }

    @Override
    public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
        if (ctx.channel() instanceof EpollSocketChannel epoll) {
            try {
                epoll.fd().close();
            } catch (IOException e) {
                // Netty's own close reports nothing either: the descriptor is gone either way.
            }
        }
        ctx.close(promise);
    }
}
