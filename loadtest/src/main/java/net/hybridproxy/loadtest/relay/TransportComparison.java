package net.hybridproxy.loadtest.relay;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoopGroup;
import net.hybridproxy.proxy.relay.RelaySession;
import net.hybridproxy.proxy.transport.Transport;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The appliance's relay ({@link RelaySession}) on the epoll and the io_uring transport, over loopback: one bulk
 * stream of {@code --bytes} from a sender through a one-thread relay to a sink, timed at the sink, the transports
 * alternating for {@code --rounds} rounds so that machine noise hits both alike; plus the CPU time the relay's
 * event loop used per gigabyte. Plain TCP on both sides: io_uring cannot carry an outbound MPTCP connection with
 * Netty 4.2.18 (repro/iouring-mptcp), so this compares what both transports can do. {@code transport = auto}
 * follows this measurement (docs/decisions.md, "Transport").
 *
 * <p>Usage: {@code TransportComparison [--bytes N] [--rounds R]}.
 */
public final class TransportComparison {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final List<Transport> COMPARED = List.of(Transport.EPOLL, Transport.IO_URING);

    private TransportComparison() {
    }

    public static void main(String[] args) throws Exception {
        long bytes = 1L << 30;
        int rounds = 5;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--bytes" -> bytes = Long.parseLong(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: TransportComparison [--bytes N] [--rounds R]");
                    System.exit(2);
                }
            }
        }
        for (Transport transport : COMPARED) {
            if (!transport.isAvailable()) {
                System.err.println(transport.label() + " unavailable: " + transport.unavailabilityCause().orElse(""));
                System.exit(1);
            }
        }
        Map<Transport, List<Double>> gbps = new EnumMap<>(Transport.class);
        Map<Transport, List<Double>> cpuPerGb = new EnumMap<>(Transport.class);
        // A discarded warm-up run of each: JIT compilation would otherwise penalise whichever runs first.
        for (Transport transport : COMPARED) {
            gbps.put(transport, new ArrayList<>());
            cpuPerGb.put(transport, new ArrayList<>());
            run(transport, bytes / 4);
        }
        for (int round = 0; round < rounds; round++) {
            List<Transport> order = round % 2 == 0 ? COMPARED : COMPARED.reversed();
            for (Transport transport : order) {
                try {
                    double[] result = run(transport, bytes);
                    gbps.get(transport).add(result[0]);
                    cpuPerGb.get(transport).add(result[1]);
                    System.out.printf(Locale.ROOT, "round %d %-8s %6.2f Gb/s, relay thread %5.2f CPU s/GB%n",
                            round + 1, transport.label(), result[0], result[1]);
                } catch (TimeoutException e) {
                    System.out.printf(Locale.ROOT, "round %d %-8s stalled: not all bytes arrived%n", round + 1,
                            transport.label());
                }
            }
        }
        for (Transport transport : COMPARED) {
            System.out.printf(Locale.ROOT, "median %-8s %6.2f Gb/s, %5.2f CPU s/GB%n", transport.label(),
                    SpliceVersusCopy.median(gbps.get(transport)), SpliceVersusCopy.median(cpuPerGb.get(transport)));
        }
    }

    /** Returns goodput in Gb/s at the sink and the relay thread's CPU seconds per GB. */
    private static double[] run(Transport transport, long bytes) throws Exception {
        EventLoopGroup loop = transport.newEventLoopGroup(1, "relay-compare-" + transport.label());
        var threads = java.lang.management.ManagementFactory.getThreadMXBean();
        ExecutorService io = Executors.newVirtualThreadPerTaskExecutor();
        try (ServerSocket sink = new ServerSocket(0, 50, LOOPBACK)) {
            InetSocketAddress sinkAddress = (InetSocketAddress) sink.getLocalSocketAddress();
            Channel listener = SpliceVersusCopy.listen(loop, transport.tcpServer(),
                    client -> connectAndRelay(transport, client, sinkAddress));
            long cpuBefore = loop.submit(() -> threads.getCurrentThreadCpuTime()).get();
            Future<Long> received = io.submit(() -> SpliceVersusCopy.drain(sink, bytes));
            Future<?> sent = io.submit(() -> SpliceVersusCopy.send((InetSocketAddress) listener.localAddress(), bytes));
            long start = System.nanoTime();
            long nanos = received.get(10 + bytes / (100L << 20), TimeUnit.SECONDS) - start;
            sent.get(1, TimeUnit.MINUTES);
            long cpu = loop.submit(() -> threads.getCurrentThreadCpuTime()).get() - cpuBefore;
            listener.close().sync();
            return new double[] {bytes * 8.0 / nanos, cpu / 1e9 / (bytes / 1e9)};
        } finally {
            io.shutdownNow();
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    private static void connectAndRelay(Transport transport, Channel client, InetSocketAddress sink) {
        ChannelFuture connect = SpliceVersusCopy.outbound(client, transport.tcpClient()).connect(sink);
        connect.addListener(f -> {
            if (f.isSuccess()) {
                RelaySession.join(client, connect.channel(), Duration.ofMinutes(5), "compare", session -> { });
            } else {
                client.close();
            }
        });
    }
}
