package net.hybridproxy.loadtest.relay;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.AbstractEpollStreamChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import net.hybridproxy.loadtest.tool.ToolCommandLine;
import net.hybridproxy.proxy.relay.RelaySession;
import net.hybridproxy.proxy.transport.Transport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.function.Consumer;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Splice versus copy for the relay on the epoll transport, over loopback: one bulk stream of {@code --bytes} from a
 * sender through a one-thread epoll relay to a sink, timed at the sink, alternating the two relay modes for
 * {@code --rounds} rounds so that machine noise hits both alike.
 *
 * <ul>
 *   <li><b>copy</b>: {@link RelaySession}, the relay the appliance runs — bytes are read into pooled buffers and
 *   written out, with writability backpressure.</li>
 *   <li><b>splice</b>: Netty's {@code AbstractEpollStreamChannel.spliceTo}, which moves bytes socket → pipe → socket
 *   in the kernel without copying them to user space.</li>
 * </ul>
 *
 * <p>Prints one line per run and the median per mode;
 * a run whose bytes do not all arrive is reported as stalled (Netty 4.2.18's splice path can fail at the end of
 * the stream with {@code epoll_ctl ENOENT}, see docs/decisions.md).
 */
@Command(name = "SpliceVersusCopy", mixinStandardHelpOptions = true,
        description = "Relay goodput over loopback: splice versus copy on the epoll transport.",
        exitCodeListHeading = "%nExit codes:%n", exitCodeList = {"0:measured", "1:epoll unavailable or the run failed",
                "2:usage error"})
public final class SpliceVersusCopy implements Callable<Integer> {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final int CHUNK = 256 * 1024;

    enum Mode { COPY, SPLICE }

    @Option(names = "--bytes", defaultValue = "1073741824", description = "bytes per run (default: ${DEFAULT-VALUE})")
    long bytes;

    @Option(names = "--rounds", defaultValue = "5", description = "rounds of both modes (default: ${DEFAULT-VALUE})")
    int rounds;

    public static void main(String[] args) {
        ToolCommandLine.exit(new SpliceVersusCopy(), args);
    }

    @Override
    public Integer call() throws Exception {
        if (!Transport.EPOLL.isAvailable()) {
            throw new IllegalStateException("epoll unavailable: " + Transport.EPOLL.unavailabilityCause().orElse(""));
        }
        List<Double> copy = new ArrayList<>();
        List<Double> splice = new ArrayList<>();
        // A warm-up run of each mode is discarded: JIT compilation would otherwise penalise whichever runs first.
        for (Mode mode : Mode.values()) {
            try {
                run(mode, bytes / 4);
            } catch (TimeoutException e) {
                System.out.println("warm-up " + mode.name().toLowerCase(Locale.ROOT) + " stalled");
            }
        }
        int[] stalls = new int[Mode.values().length];
        for (int round = 0; round < rounds; round++) {
            for (Mode mode : round % 2 == 0 ? new Mode[] {Mode.COPY, Mode.SPLICE} : new Mode[] {Mode.SPLICE, Mode.COPY}) {
                String name = mode.name().toLowerCase(Locale.ROOT);
                try {
                    double gbps = run(mode, bytes);
                    (mode == Mode.COPY ? copy : splice).add(gbps);
                    System.out.printf(Locale.ROOT, "round %d %-6s %6.2f Gb/s%n", round + 1, name, gbps);
                } catch (TimeoutException e) {
                    stalls[mode.ordinal()]++;
                    System.out.printf(Locale.ROOT, "round %d %-6s stalled: not all bytes arrived%n", round + 1, name);
                }
            }
        }
        System.out.printf(Locale.ROOT, "median  copy %6.2f Gb/s (%d stalled), splice %6.2f Gb/s (%d stalled)%n",
                median(copy), stalls[Mode.COPY.ordinal()], median(splice), stalls[Mode.SPLICE.ordinal()]);
        return ToolCommandLine.OK;
    }

    /** Moves {@code bytes} through a fresh relay in the given mode; returns goodput in Gb/s measured at the sink. */
    static double run(Mode mode, long bytes) throws Exception {
        EventLoopGroup loop = Transport.EPOLL.newEventLoopGroup(1, "relay-bench");
        ExecutorService io = Executors.newVirtualThreadPerTaskExecutor();
        try (ServerSocket sink = new ServerSocket(0, 50, LOOPBACK)) {
            InetSocketAddress sinkAddress = (InetSocketAddress) sink.getLocalSocketAddress();
            Channel listener = listen(loop, EpollServerSocketChannel::new,
                    client -> connectAndRelay(mode, (EpollSocketChannel) client, sinkAddress));
            Future<Long> received = io.submit(() -> drain(sink, bytes));
            Future<?> sent = io.submit(() -> send((InetSocketAddress) listener.localAddress(), bytes));
            long start = System.nanoTime();
            // Generous: even 1 Gb/s would finish well within it; anything slower is a stall, not a figure.
            long nanos = received.get(10 + bytes / (100L << 20), TimeUnit.SECONDS) - start;
            sent.get(1, TimeUnit.MINUTES);
            listener.close().sync();
            return bytes * 8.0 / nanos;
        } finally {
            io.shutdownNow();
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @SuppressWarnings("deprecation") // spliceTo is deprecated in Netty 4.2: measuring it is the point.
    private static void connectAndRelay(Mode mode, EpollSocketChannel client, InetSocketAddress sink) {
        ChannelFuture connect = outbound(client, EpollSocketChannel::new).connect(sink);
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                client.close();
                return;
            }
            Channel server = connect.channel();
            switch (mode) {
                case COPY -> RelaySession.join(client, server, Duration.ofMinutes(5), "bench", session -> { });
                case SPLICE -> {
                    client.spliceTo((AbstractEpollStreamChannel) server, Integer.MAX_VALUE);
                    client.config().setAutoRead(true);
                }
            }
        });
    }

    /**
     * A relay listener on {@code loop}: accepted children have auto-read off, half-closure on and the benchmark's
     * water marks, and {@code onActive} gets each one once it is active.
     */
    static Channel listen(EventLoopGroup loop, ChannelFactory<? extends ServerChannel> factory,
                          Consumer<Channel> onActive) throws InterruptedException {
        return new ServerBootstrap()
                .group(loop)
                .channelFactory(factory)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 << 10, 1 << 20))
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel child) {
                        child.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelActive(ChannelHandlerContext ctx) {
                                ctx.pipeline().remove(this);
                                onActive.accept(ctx.channel());
                            }
                        });
                    }
                })
                .bind(new InetSocketAddress(LOOPBACK, 0)).sync().channel();
    }

    /** The relay's connection to the sink, on the client's loop, configured like the accepted side. */
    static Bootstrap outbound(Channel client, ChannelFactory<? extends Channel> factory) {
        return new Bootstrap()
                .group(client.eventLoop())
                .channelFactory(factory)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 << 10, 1 << 20))
                .handler(new ChannelInboundHandlerAdapter());
    }

    static void send(InetSocketAddress to, long bytes) {
        try (Socket socket = new Socket(to.getAddress(), to.getPort())) {
            OutputStream out = socket.getOutputStream();
            byte[] chunk = new byte[CHUNK];
            for (long left = bytes; left > 0; left -= CHUNK) {
                out.write(chunk, 0, (int) Math.min(CHUNK, left));
            }
            socket.shutdownOutput();
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    /** Reads until {@code bytes} arrived; returns the nanoTime of the last byte. */
    static long drain(ServerSocket sink, long bytes) throws IOException {
        try (Socket socket = sink.accept()) {
            InputStream in = socket.getInputStream();
            byte[] chunk = new byte[CHUNK];
            long got = 0;
            while (got < bytes) {
                int n = in.read(chunk);
                if (n < 0) {
                    throw new IOException("stream ended after " + got + " of " + bytes + " bytes");
                }
                got += n;
            }
            return System.nanoTime();
        }
    }

    static double median(List<Double> values) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        List<Double> sorted = values.stream().sorted().toList();
        int mid = sorted.size() / 2;
        return sorted.size() % 2 == 1 ? sorted.get(mid) : (sorted.get(mid - 1) + sorted.get(mid)) / 2;
    }
}
