package net.hybridproxy.proxy.role;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.relay.EarlyInbound;
import net.hybridproxy.proxy.relay.RelaySession;
import net.hybridproxy.proxy.transport.NativeSocketOptions;

import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * The sidecar: a fixed bridge next to one application. mptcp-to-tcp puts an MPTCP listener in front of a TCP-only
 * service; tcp-to-mptcp lets a TCP-only client reach an MPTCP service. No Convert signalling: the upstream is fixed.
 */
public final class SidecarRole implements Role {
    private static final System.Logger LOG = System.getLogger("hybridproxy.sidecar");

    private final RoleContext context;
    private final AppConfig.Sidecar sidecar;
    private final List<Channel> listeners = new ArrayList<>();

    public SidecarRole(RoleContext context) {
        this.context = context;
        this.sidecar = context.config().sidecar().orElseThrow();
    }

    @Override
    public void start() throws Exception {
        boolean mptcpIn = sidecar.mode() == AppConfig.SidecarMode.MPTCP_TO_TCP;
        ChannelFactory<ServerSocketChannel> listen = mptcpIn ? context.transport().mptcpServer()
                : context.transport().tcpServer();
        ChannelFactory<SocketChannel> upstream = mptcpIn ? context.transport().tcpClient()
                : context.transport().mptcpClient();
        Channel channel = context.serverBootstrap(listen)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new EarlyInbound(), new FixedUpstreamHandler(upstream, mptcpIn));
                    }
                })
                .bind(sidecar.listen()).sync().channel();
        listeners.add(channel);
        LOG.log(Level.INFO, "sidecar (" + sidecar.mode().name().toLowerCase().replace('_', '-') + ") on "
                + channel.localAddress() + " -> " + RoleContext.describe(sidecar.upstream()));
    }

    @Override
    public List<Channel> listeners() {
        return List.copyOf(listeners);
    }

    @Override
    public void close() {
        listeners.forEach(Channel::close);
    }

    private final class FixedUpstreamHandler extends ChannelInboundHandlerAdapter {
        private final ChannelFactory<SocketChannel> upstreamFactory;
        private final boolean mptcpIn;

        FixedUpstreamHandler(ChannelFactory<SocketChannel> upstreamFactory, boolean mptcpIn) {
            this.upstreamFactory = upstreamFactory;
            this.mptcpIn = mptcpIn;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            Channel client = ctx.channel();
            ctx.pipeline().remove(this);
            if (!context.counters().tryAdmit()) {
                RelaySession.reset(client);
                return;
            }
            if (mptcpIn) {
                context.multipathChannels().add(client);
                if (!NativeSocketOptions.isMptcp(client)) {
                    context.counters().mptcpFallback(client);
                }
            }
            String label = "sidecar " + RoleContext.describe((InetSocketAddress) client.remoteAddress()) + " -> "
                    + RoleContext.describe(sidecar.upstream());
            ChannelFuture connect = context.outboundBootstrap(client, upstreamFactory)
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(sidecar.upstream());
            client.closeFuture().addListener(f -> {
                if (!connect.isDone()) {
                    connect.cancel(false);
                    connect.channel().close();
                }
            });
            connect.addListener(f -> {
                if (!f.isSuccess() || !client.isActive()) {
                    context.counters().release();
                    LOG.log(Level.WARNING, label + ": upstream unreachable: "
                            + (f.cause() == null ? "client left" : f.cause().getMessage()));
                    RelaySession.reset(client);
                    connect.channel().close();
                    return;
                }
                if (!mptcpIn) {
                    context.multipathChannels().add(connect.channel());
                    if (!NativeSocketOptions.isMptcp(connect.channel())) {
                        context.counters().mptcpFallback(connect.channel());
                    }
                }
                context.relay(client, connect.channel(), label);
            });
        }
    }
}
