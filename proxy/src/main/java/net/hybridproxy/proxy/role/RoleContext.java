package net.hybridproxy.proxy.role;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.EventLoop;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.unix.UnixChannelOption;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.EventExecutor;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import net.hybridproxy.proxy.metrics.FailoverLog;
import net.hybridproxy.proxy.metrics.UserspaceStats;
import net.hybridproxy.proxy.nativeio.NativeException;
import net.hybridproxy.proxy.relay.RelaySession;
import net.hybridproxy.proxy.transport.MultipathConnections;
import net.hybridproxy.proxy.transport.NativeSocketOptions;
import net.hybridproxy.proxy.transport.Transport;

import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;

/**
 * What every role needs: the configuration, the transport and its event loops, the process counters, and the
 * open MPTCP-side channels (closed ones leave by themselves), which is where per-subflow state is read.
 */
public record RoleContext(AppConfig config, Transport transport, EventLoopGroup acceptGroup, EventLoopGroup workerGroup,
                          ProxyCounters counters, MultipathConnections multipathChannels,
                          UserspaceStats userspaceStats) {
    /** A context whose userspace engine's figures go nowhere but its own stats (tests, tools). */
    public RoleContext(AppConfig config, Transport transport, EventLoopGroup acceptGroup, EventLoopGroup workerGroup,
                       ProxyCounters counters, MultipathConnections multipathChannels) {
        this(config, transport, acceptGroup, workerGroup, counters, multipathChannels,
                new UserspaceStats(config.uplinks().stream().map(AppConfig.UplinkConfig::name).toList(), new FailoverLog(),
                        config.admin().sampleInterval()));
    }

    /** {@link System#nanoTime()} when a listener accepted the channel: the start of connection setup. */
    static final AttributeKey<Long> ACCEPTED_NANOS = AttributeKey.valueOf("hybridproxy.acceptedNanos");

    /**
     * A listener whose accepted children are ready for relaying: AUTO_READ off, half-close on, TCP_NODELAY and
     * SO_KEEPALIVE on, bounded buffers. Netty's socket channels turn TCP_NODELAY on in their constructor, so asking
     * for it again per child only repeated a system call; on the native transports SO_KEEPALIVE (and TCP_NODELAY,
     * for good measure) is set once on the listener, whose accepted sockets inherit it, instead of per connection.
     */
    public ServerBootstrap serverBootstrap(ChannelFactory<? extends ServerSocketChannel> factory) {
        return serverBootstrap(factory, acceptGroup, workerGroup);
    }

    private ServerBootstrap serverBootstrap(ChannelFactory<? extends ServerSocketChannel> factory,
                                            EventLoopGroup parent, EventLoopGroup children) {
        AppConfig.Relay relay = config.relay();
        boolean inherited = transport != Transport.NIO;
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(parent, children)
                .channelFactory(inherited ? inheritingOptions(factory) : factory)
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.SO_BACKLOG, 4096)
                .handler(AcceptStamp.INSTANCE)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK,
                        new WriteBufferWaterMark(relay.writeBufferLowWaterMark(), relay.writeBufferHighWaterMark()))
                .childOption(ChannelOption.RCVBUF_ALLOCATOR, relayReads(relay));
        if (!inherited) {
            bootstrap.childOption(ChannelOption.SO_KEEPALIVE, true);
        }
        return bootstrap;
    }

    /**
     * Binds a relaying listener ({@link #serverBootstrap}) at {@code address} whose accepted connections start with
     * {@code childHandler}; the sockets bound, which share the address.
     *
     * <p>By default one socket on the accept loop, whose acceptor hands each connection to a worker loop: a task and
     * a wake-up of that loop per connection, and the accept thread's own wake-up. With {@code accept-on-event-loops}
     * on a native transport, one socket per worker loop in an SO_REUSEPORT group instead: the kernel picks the
     * group's socket for each new connection by a hash of its addresses (for TPROXY's and REDIRECT's captures too:
     * loadtest/repro/reuseport-spread), and the loop that accepts it registers it at once and serves it, as
     * shadowsocks does on its one thread. A second process bound to the address would join such a group without a
     * word and take a share of the connections, so the address is first bound once without SO_REUSEPORT: taken, it
     * fails as a single listener does.
     */
    public List<Channel> bindListener(ChannelFactory<? extends ServerSocketChannel> factory, ChannelHandler childHandler,
                                      InetSocketAddress address) throws InterruptedException {
        return bindListener(factory, childHandler, address, null);
    }

    /**
     * As {@link #bindListener(ChannelFactory, ChannelHandler, InetSocketAddress)}, with each accepted connection
     * registered on the loop {@code connectionLoops} chooses (null: the worker loops in turn, or the accepting loop
     * itself with {@code accept-on-event-loops}). A userspace cpe's listeners: the loop decides the session.
     */
    public List<Channel> bindListener(ChannelFactory<? extends ServerSocketChannel> factory, ChannelHandler childHandler,
                                      InetSocketAddress address, EventLoopGroup connectionLoops)
            throws InterruptedException {
        if (!config.acceptOnEventLoops() || transport == Transport.NIO) {
            return List.of(serverBootstrap(factory, acceptGroup, connectionLoops == null ? workerGroup : connectionLoops)
                    .childHandler(childHandler).bind(address).sync().channel());
        }
        refuseIfTaken(address);
        List<Channel> bound = new ArrayList<>();
        InetSocketAddress groupAddress = address;
        try {
            for (EventExecutor executor : workerGroup) {
                EventLoop loop = (EventLoop) executor;
                Channel channel = serverBootstrap(factory, loop, connectionLoops == null ? loop : connectionLoops)
                        .option(UnixChannelOption.SO_REUSEPORT, true)
                        .childHandler(childHandler).bind(groupAddress).sync().channel();
                bound.add(channel);
                // An ephemeral port (0) is chosen by the first bind; the others join that one.
                groupAddress = (InetSocketAddress) channel.localAddress();
            }
        } catch (RuntimeException | InterruptedException e) {
            bound.forEach(Channel::close);
            throw e;
        }
        return List.copyOf(bound);
    }

    private static void refuseIfTaken(InetSocketAddress address) {
        if (address.getPort() == 0) {
            return;
        }
        try (ServerSocket probe = new ServerSocket()) {
            probe.bind(address, 1);
        } catch (BindException e) {
            // Only a taken address is this check's to report; anything else (a transparent listener's non-local
            // address, say) is for the group's own bind to succeed at or report.
            if (e.getMessage() != null && e.getMessage().contains("in use")) {
                throw new ChannelException("cannot listen on " + describe(address) + ": " + e.getMessage(), e);
            }
        } catch (IOException e) {
            // As above: the group's bind decides.
        }
    }

    private static ChannelFactory<ServerSocketChannel> inheritingOptions(
            ChannelFactory<? extends ServerSocketChannel> factory) {
        return () -> {
            ServerSocketChannel channel = factory.newChannel();
            if (NativeSocketOptions.isKernelSocket(channel)) {
                try {
                    NativeSocketOptions.setNoDelayAndKeepaliveInherited(channel);
                } catch (NativeException e) {
                    channel.unsafe().closeForcibly();
                    throw new ChannelException("TCP_NODELAY or SO_KEEPALIVE refused on a listener: "
                            + e.getMessage(), e);
                }
            }
            return channel;
        };
    }

    /**
     * An outbound connection on the inbound channel's own event loop, so the pair never crosses threads (the
     * Netty proxy idiom): no locks, no handoff, and both sides' state lives on one loop. No TCP_NODELAY option:
     * Netty's TCP channels turn it on in their constructor, and {@link Transport#mptcpClient()} sets it on the MPTCP
     * socket it swaps in ({@code RelayTransportSuite} reads it back from both), so asking again here only repeated a
     * setsockopt on every outbound connection.
     */
    public Bootstrap outboundBootstrap(Channel inbound, ChannelFactory<? extends SocketChannel> factory) {
        return outboundBootstrap(inbound.eventLoop(), factory);
    }

    /** An outbound connection on {@code loop}, configured for relaying like {@link #outboundBootstrap(Channel, ChannelFactory)}. */
    public Bootstrap outboundBootstrap(io.netty.channel.EventLoop loop, ChannelFactory<? extends SocketChannel> factory) {
        AppConfig.Relay relay = config.relay();
        return new Bootstrap()
                .group(loop)
                .channelFactory(factory)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE,
                        relay.connectTimeout().toMillis()))
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK,
                        new WriteBufferWaterMark(relay.writeBufferLowWaterMark(), relay.writeBufferHighWaterMark()))
                .option(ChannelOption.RCVBUF_ALLOCATOR, relayReads(relay));
    }

    /**
     * Netty's adaptive read sizing starting at {@code relay.first-read-size}: a relayed answer of up to that size is
     * read and sent on in one piece, not as Netty's first 2 KiB and the rest one loop pass later.
     */
    static AdaptiveRecvByteBufAllocator relayReads(AppConfig.Relay relay) {
        return new AdaptiveRecvByteBufAllocator(ConfigLoader.FIRST_READ_MIN_BYTES, relay.firstReadBytes(),
                ConfigLoader.FIRST_READ_MAX_BYTES);
    }

    /**
     * Joins two active channels into a relay that updates the counters and logs when it ends. The time since the
     * client was accepted is the connection's setup latency.
     */
    public RelaySession relay(Channel client, Channel server, String label) {
        return relay(client, server, label, RelaySession.ByteCounter.NONE);
    }

    /** As {@link #relay(Channel, Channel, String)}, also telling {@code alsoCount} of every chunk relayed. */
    public RelaySession relay(Channel client, Channel server, String label, RelaySession.ByteCounter alsoCount) {
        Long accepted = client.attr(ACCEPTED_NANOS).get();
        if (accepted != null) {
            counters.setupCompleted(System.nanoTime() - accepted);
        }
        RelaySession.ByteCounter bytes = alsoCount == RelaySession.ByteCounter.NONE ? counters.relayedBytes
                : (upstream, count) -> {
                    counters.relayed(upstream, count);
                    alsoCount.relayed(upstream, count);
                };
        return RelaySession.join(client, server, config.relay().idleTimeout(), label, counters.relayEnded, bytes);
    }

    /**
     * On a listener's own pipeline, in front of the acceptor: stamps each accepted child with the accept time.
     * Roles set child handlers only, so this sees every connection without touching them.
     */
    @ChannelHandler.Sharable
    private static final class AcceptStamp extends ChannelInboundHandlerAdapter {
        static final AcceptStamp INSTANCE = new AcceptStamp();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Channel child) {
                child.attr(ACCEPTED_NANOS).set(System.nanoTime());
            }
            ctx.fireChannelRead(msg);
        }
    }

    /** For a log line: the address {@link #bindListener} bound, and how many sockets share it when more than one. */
    public static String describeBound(List<Channel> bound) {
        return bound.getFirst().localAddress()
                + (bound.size() > 1 ? " (" + bound.size() + " sockets, one per event loop)" : "");
    }

    public static String describe(InetSocketAddress address) {
        return net.hybridproxy.proxy.config.Endpoint.format(address);
    }
}
