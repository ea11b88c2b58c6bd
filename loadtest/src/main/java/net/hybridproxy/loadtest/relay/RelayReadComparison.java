package net.hybridproxy.loadtest.relay;

import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.RecvByteBufAllocator;
import net.hybridproxy.proxy.relay.RelaySession;
import net.hybridproxy.proxy.transport.Transport;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * The relay's read path with Netty's default read sizing against the relay's own ({@link RelayRecvAllocator}), in
 * one JVM, over loopback on epoll, the two alternating per round so that machine noise hits both alike. Counted per
 * GB relayed, on the relay's event-loop thread: CPU seconds, bytes allocated on the Java heap, reads and
 * read-completes (each is one flush, so one write system call or more), and the JVM's collections. Run it with the
 * launcher's JVM options (a 128 MiB heap puts Netty's allocator in its low-memory mode, as in the appliance).
 *
 * <p>Usage: {@code RelayReadComparison [--bytes N] [--rounds R] [--rate-mbps M] [--chunk B]}: {@code --rate-mbps}
 * paces the sender (0: as fast as loopback goes), {@code --chunk} is the size of its writes.
 */
public final class RelayReadComparison {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    private RelayReadComparison() {
    }

    public static void main(String[] args) throws Exception {
        long bytes = 1L << 30;
        int rounds = 5;
        double rateMbps = 0;
        int chunk = 256 * 1024;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--bytes" -> bytes = Long.parseLong(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--rate-mbps" -> rateMbps = Double.parseDouble(args[++i]);
                case "--chunk" -> chunk = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: RelayReadComparison [--bytes N] [--rounds R] [--rate-mbps M] [--chunk B]");
                    System.exit(2);
                }
            }
        }
        Map<String, RecvByteBufAllocator> arms = new LinkedHashMap<>();
        arms.put("netty-default", new AdaptiveRecvByteBufAllocator());
        arms.put("relay", RelayRecvAllocator.INSTANCE);
        Map<String, List<double[]>> results = new LinkedHashMap<>();
        for (var arm : arms.entrySet()) {
            results.put(arm.getKey(), new ArrayList<>());
            run(arm.getValue(), bytes / 4, rateMbps, chunk); // warm-up, discarded
        }
        List<String> names = List.copyOf(arms.keySet());
        for (int round = 0; round < rounds; round++) {
            for (String name : round % 2 == 0 ? names : names.reversed()) {
                double[] r = run(arms.get(name), bytes, rateMbps, chunk);
                results.get(name).add(r);
                System.out.printf(Locale.ROOT, "round %d %-13s %s%n", round + 1, name, format(r));
            }
        }
        for (String name : names) {
            double[] median = new double[7];
            for (int k = 0; k < median.length; k++) {
                final int index = k;
                median[k] = SpliceVersusCopy.median(results.get(name).stream().map(r -> r[index]).toList());
            }
            System.out.printf(Locale.ROOT, "median %-12s %s%n", name, format(median));
        }
    }

    private static String format(double[] r) {
        return String.format(Locale.ROOT, "%7.2f Gb/s; per GB: %5.2f CPU s, %7.1f MB allocated, %7.0f reads, %7.0f "
                + "read-completes, %4.1f collections (%5.0f ms)", r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
    }

    /**
     * One transfer: goodput in Gb/s, then per GB: loop CPU s, MB allocated by the loop, reads, read-completes,
     * collections, collection ms.
     */
    private static double[] run(RecvByteBufAllocator reads, long bytes, double rateMbps, int chunk) throws Exception {
        EventLoopGroup loop = Transport.EPOLL.newEventLoopGroup(1, "relay-read-compare");
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        ExecutorService io = Executors.newVirtualThreadPerTaskExecutor();
        LongAdder readCount = new LongAdder();
        LongAdder completeCount = new LongAdder();
        try (ServerSocket sink = new ServerSocket(0, 50, LOOPBACK)) {
            InetSocketAddress sinkAddress = (InetSocketAddress) sink.getLocalSocketAddress();
            Channel listener = SpliceVersusCopy.listen(loop, Transport.EPOLL.tcpServer(), client -> {
                client.config().setRecvByteBufAllocator(reads);
                client.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        readCount.increment();
                        ctx.fireChannelRead(msg);
                    }

                    @Override
                    public void channelReadComplete(ChannelHandlerContext ctx) {
                        completeCount.increment();
                        ctx.fireChannelReadComplete();
                    }
                });
                ChannelFuture connect = SpliceVersusCopy.outbound(client, Transport.EPOLL.tcpClient()).connect(sinkAddress);
                connect.addListener(f -> {
                    if (f.isSuccess()) {
                        connect.channel().config().setRecvByteBufAllocator(reads);
                        RelaySession.join(client, connect.channel(), Duration.ofMinutes(5), "compare", session -> { });
                    } else {
                        client.close();
                    }
                });
            });
            long[] before = loop.submit(() -> new long[] {threads.getCurrentThreadCpuTime(),
                    threads.getThreadAllocatedBytes(Thread.currentThread().threadId())}).get();
            long[] gcBefore = collections();
            Future<Long> received = io.submit(() -> SpliceVersusCopy.drain(sink, bytes));
            InetSocketAddress relay = (InetSocketAddress) listener.localAddress();
            Future<?> sent = io.submit(() -> send(relay, bytes, rateMbps, chunk));
            long start = System.nanoTime();
            long timeoutSeconds = 30 + (rateMbps > 0 ? (long) (bytes * 8 / (rateMbps * 1e6) * 2) : bytes / (50L << 20));
            long nanos = received.get(timeoutSeconds, TimeUnit.SECONDS) - start;
            sent.get(1, TimeUnit.MINUTES);
            long[] after = loop.submit(() -> new long[] {threads.getCurrentThreadCpuTime(),
                    threads.getThreadAllocatedBytes(Thread.currentThread().threadId())}).get();
            long[] gcAfter = collections();
            listener.close().sync();
            double gb = bytes / 1e9;
            return new double[] {bytes * 8.0 / nanos, (after[0] - before[0]) / 1e9 / gb,
                    (after[1] - before[1]) / 1e6 / gb, readCount.sum() / gb, completeCount.sum() / gb,
                    (gcAfter[0] - gcBefore[0]) / gb, (gcAfter[1] - gcBefore[1]) / gb};
        } finally {
            io.shutdownNow();
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    private static long[] collections() {
        long count = 0;
        long millis = 0;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            count += Math.max(0, gc.getCollectionCount());
            millis += Math.max(0, gc.getCollectionTime());
        }
        return new long[] {count, millis};
    }

    /** Sends {@code bytes} in writes of {@code chunk}, paced to {@code rateMbps} unless that is 0. */
    private static void send(InetSocketAddress to, long bytes, double rateMbps, int chunk) {
        try (Socket socket = new Socket(to.getAddress(), to.getPort())) {
            OutputStream out = socket.getOutputStream();
            byte[] data = new byte[chunk];
            long start = System.nanoTime();
            long sent = 0;
            while (sent < bytes) {
                int n = (int) Math.min(chunk, bytes - sent);
                out.write(data, 0, n);
                sent += n;
                if (rateMbps > 0) {
                    long due = start + (long) (sent * 8 / rateMbps * 1e3);
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        LockSupport.parkNanos(wait);
                    }
                }
            }
            socket.shutdownOutput();
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }
}
