package net.hybridproxy.loadtest.loadgen;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.SocketChannel;
import net.hybridproxy.loadtest.tool.ToolCommandLine;
import net.hybridproxy.proxy.transport.Transport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.Callable;

/**
 * The far end of every load-generator workload, on Netty. One control line per request, then data (see
 * {@link ServedConnection} for the protocol). Prints {@code LISTENING <addr:port>} once bound, then one
 * {@code DONE op=DOWN|UP ...} line per bulk stream when it ends.
 */
@Command(name = "LoadServer", mixinStandardHelpOptions = true,
        description = "Serves the load client's workloads: verified bulk streams both ways, and objects on request.",
        exitCodeListHeading = "%nExit codes:%n", exitCodeList = {"1:could not listen", "2:usage error"})
public final class LoadServer implements Callable<Integer> {
    /** Objects up to this size are answered from slices of the shared pattern block (no copying). */
    public static final int MAX_GET = 64 << 20;

    @Option(names = "--listen", paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:5201",
            description = "address to listen on (default: ${DEFAULT-VALUE})")
    String listen;

    @Option(names = "--mptcp", description = "listen with an MPTCP socket")
    boolean mptcp;

    @Option(names = "--threads", defaultValue = "1", description = "event-loop threads (default: ${DEFAULT-VALUE})")
    int threads;

    public static void main(String[] args) {
        ToolCommandLine.exit(new LoadServer(), args);
    }

    @Override
    public Integer call() throws InterruptedException {
        PrintStream log = System.out;
        EventLoopGroup group = Transport.EPOLL.newEventLoopGroup(threads, "loadserver");
        try {
            Channel server = start(group, address(listen), mptcp, log);
            server.closeFuture().sync();
            return ToolCommandLine.OK;
        } finally {
            group.shutdownGracefully();
        }
    }

    /** Binds a server on {@code group}, prints its {@code LISTENING} line to {@code log} and returns its channel. */
    public static Channel start(EventLoopGroup group, InetSocketAddress address, boolean mptcp, PrintStream log)
            throws InterruptedException {
        Channel server = new ServerBootstrap().group(group)
                .channelFactory(mptcp ? Transport.EPOLL.mptcpServer() : Transport.EPOLL.tcpServer())
                .option(ChannelOption.SO_BACKLOG, 16384)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 << 10, 1 << 20))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new ServedConnection(log));
                    }
                })
                .bind(address).sync().channel();
        log.println("LISTENING " + format(server.localAddress()));
        log.flush();
        return server;
    }

    static InetSocketAddress address(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("expected host:port, got " + hostPort);
        }
        String host = hostPort.substring(0, colon).replace("[", "").replace("]", "");
        try {
            return new InetSocketAddress(host, Integer.parseInt(hostPort.substring(colon + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("expected host:port, got " + hostPort);
        }
    }

    /** {@code ip:port} ({@code [ip6]:port}), without the leading slash of InetSocketAddress.toString(). */
    static String format(SocketAddress a) {
        if (a instanceof InetSocketAddress i && i.getAddress() != null) {
            String host = i.getAddress().getHostAddress();
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + i.getPort();
        }
        return String.valueOf(a);
    }
}
