package net.hybridproxy.loadtest.loadgen;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import net.hybridproxy.loadtest.tool.ToolCommandLine;
import net.hybridproxy.loadtest.tool.ToolJson;
import net.hybridproxy.proxy.transport.Transport;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * The load generator's client, on Netty (epoll), against {@link LoadServer}. One subcommand per workload
 * ({@link BulkOptions bulk}, {@link RequestResponseOptions rr}, {@link TtfbOptions ttfb}, {@link HoldOptions hold});
 * each prints its typed result as one JSON line and exits 0 if it is ok, 1 if not, 2 on a usage error.
 */
@Command(name = "LoadClient", mixinStandardHelpOptions = true,
        description = "Load generator: verified bulk streams, request/response, time to first byte, held connections.",
        subcommands = {LoadClient.BulkCommand.class, LoadClient.RequestResponseCommand.class, LoadClient.TtfbCommand.class, LoadClient.HoldCommand.class},
        exitCodeListHeading = "%nExit codes:%n", exitCodeList = {"0:the workload's result is ok",
                "1:it is not (the JSON line says why)", "2:usage error"})
public final class LoadClient implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    private final PrintStream out;

    LoadClient(PrintStream out) {
        this.out = out;
    }

    public static void main(String[] args) {
        ToolCommandLine.exit(new LoadClient(System.out), args);
    }

    /** {@code java <jvmArgs> -cp <cp> LoadClient <workload> <target options> <workload options>}. */
    public static List<String> arguments(LoadTarget target, Workload<?> workload) {
        List<String> a = new ArrayList<>();
        a.add(workload.command());
        a.addAll(target.arguments());
        a.addAll(workload.arguments());
        return a;
    }

    /** The result line among a client's output (the last line that is a JSON object), read as {@code type}. */
    public static <R> R parseResult(String stdout, Class<R> type) {
        List<String> json = stdout.lines().filter(l -> l.startsWith("{")).toList();
        if (json.isEmpty()) {
            throw new IllegalArgumentException("no result line");
        }
        return ToolJson.read(type, json.getLast());
    }

    /** {@code LoadClient} alone: the usage, on stderr, as the answer to a mistake. */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return ToolCommandLine.USAGE;
    }

    /** Runs {@code workload} against {@code target} in this JVM and returns its result. */
    public static <R> R run(LoadTarget target, Workload<R> workload) throws InterruptedException {
        InetSocketAddress address = LoadServer.address(target.connect());
        EventLoopGroup group = Transport.EPOLL.newEventLoopGroup(target.threads(), "loadgen");
        try {
            Bootstrap bootstrap = new Bootstrap().group(group)
                    .channelFactory(target.mptcp() ? Transport.EPOLL.mptcpClient() : Transport.EPOLL.tcpClient())
                    .option(ChannelOption.TCP_NODELAY, true)
                    .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, target.connectTimeoutMs())
                    .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 << 10, 1 << 20));
            if (target.bind() != null) {
                bootstrap.localAddress(new InetSocketAddress(target.bind(), 0));
            }
            ObjectWorkloads objects = new ObjectWorkloads(bootstrap, address);
            Object result = switch (workload) {
                case BulkOptions o -> BulkWorkload.run(bootstrap, address, target.seed(), o);
                case RequestResponseOptions o -> objects.requestResponse(o);
                case TtfbOptions o -> objects.ttfb(o);
                case HoldOptions o -> objects.hold(o);
            };
            return workload.resultType().cast(result);
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
    }

    /** Seconds since boot from /proc/uptime, the same in every network namespace; -1 if unreadable. */
    public static double uptimeSeconds() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/uptime")).split("\\s+")[0]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Options every workload takes. */
    static final class TargetOptions {
        @Option(names = "--connect", paramLabel = "HOST:PORT", required = true, description = "the LoadServer")
        String connect;

        @Option(names = "--bind", paramLabel = "ADDR", description = "local address to connect from")
        String bind;

        @Option(names = "--mptcp", description = "open MPTCP sockets")
        boolean mptcp;

        @Option(names = "--seed", defaultValue = "1", description = "pattern seed of the first stream (default: 1)")
        long seed;

        @Option(names = "--connect-timeout-ms", defaultValue = "10000", description = "default: ${DEFAULT-VALUE}")
        int connectTimeoutMs;

        @Option(names = "--threads", defaultValue = "1", description = "event-loop threads (default: 1)")
        int threads;

        LoadTarget target() {
            return new LoadTarget(connect, bind, mptcp, seed, connectTimeoutMs, threads);
        }
    }

    /** Runs a workload, prints its result line and maps ok to the exit code. */
    private <R> int print(TargetOptions t, Workload<R> workload, java.util.function.Predicate<R> ok)
            throws InterruptedException {
        R result = run(t.target(), workload);
        out.println(ToolJson.line(result));
        out.flush();
        return ok.test(result) ? ToolCommandLine.OK : ToolCommandLine.FAILED;
    }

    @Command(name = "bulk", mixinStandardHelpOptions = true,
            description = {"BulkCommand transfer, every byte checked against the pattern and both ends' SHA-256 compared.",
                    "Either a byte count per stream (--up N or --down N) or a sending period (--direction and"
                            + " --duration-ms)."})
    static final class BulkCommand implements Callable<Integer> {
        @Mixin
        TargetOptions target = new TargetOptions();

        @ArgGroup(multiplicity = "1")
        BulkAmount amount;

        static final class BulkAmount {
            @Option(names = "--up", paramLabel = "BYTES", description = "upload exactly BYTES per stream")
            Long up;

            @Option(names = "--down", paramLabel = "BYTES", description = "download exactly BYTES per stream")
            Long down;

            @Option(names = "--direction", paramLabel = "up|down", description = "timed transfer in this direction")
            String direction;
        }

        @Option(names = "--duration-ms", description = "sending period of a timed transfer (default: 10000)")
        Long durationMs;

        @Option(names = "--connections", defaultValue = "1", description = "parallel streams (default: 1)")
        int connections;

        @Option(names = "--rate-kbit", defaultValue = "0", description = "pace downloads to this rate (default: off)")
        long rateKbit;

        @Option(names = "--timeline-ms", defaultValue = "100", description = "timeline bucket (default: 100)")
        int timelineMs;

        @Option(names = "--timeout-ms", defaultValue = "120000",
                description = "longest wait for the transfer, or after a timed one's sending period (default: 120000)")
        long timeoutMs;

        @Option(names = "--idle-ms", defaultValue = "5000",
                description = "timed transfers: give up after this long without progress past the sending period"
                        + " (default: 5000)")
        long idleMs;

        @Option(names = "--expect-refused",
                description = "succeed only if the connection is refused, reset or closed before any reply")
        boolean expectRefused;

        @picocli.CommandLine.ParentCommand
        LoadClient parent;

        BulkOptions options() {
            boolean timed = amount.direction != null;
            if (!timed && durationMs != null) {
                throw new IllegalArgumentException("--duration-ms goes with --direction, not with a byte count");
            }
            if (timed && !amount.direction.equals("up") && !amount.direction.equals("down")) {
                throw new IllegalArgumentException("--direction must be up or down, not " + amount.direction);
            }
            boolean upload = timed ? amount.direction.equals("up") : amount.up != null;
            long bytes = timed ? 0 : upload ? amount.up : amount.down;
            return new BulkOptions(upload, connections, bytes, timed ? durationMs == null ? 10_000 : durationMs : 0,
                    rateKbit, timelineMs,
                    timeoutMs, idleMs, expectRefused);
        }

        @Override
        public Integer call() throws InterruptedException {
            return parent.print(target, options(), BulkResult::ok);
        }
    }

    @Command(name = "rr", mixinStandardHelpOptions = true,
            description = "Request/response: N clients ask for objects one after another for a while.")
    static final class RequestResponseCommand implements Callable<Integer> {
        @Mixin
        TargetOptions target = new TargetOptions();

        @Option(names = "--clients", defaultValue = "1", description = "parallel clients (default: 1)")
        int clients;

        @Option(names = "--size", defaultValue = "1000", description = "object size in bytes (default: 1000)")
        int size;

        @Option(names = "--duration-ms", defaultValue = "5000", description = "default: 5000")
        long durationMs;

        @Option(names = "--new-connection", description = "a new connection per request (default: persistent)")
        boolean newConnection;

        @picocli.CommandLine.ParentCommand
        LoadClient parent;

        @Override
        public Integer call() throws InterruptedException {
            return parent.print(target, new RequestResponseOptions(clients, size, durationMs, newConnection),
                    RequestResponseResult::ok);
        }
    }

    @Command(name = "ttfb", mixinStandardHelpOptions = true,
            description = "Time to first byte: a new connection per object; connect, first-byte and total times.")
    static final class TtfbCommand implements Callable<Integer> {
        @Mixin
        TargetOptions target = new TargetOptions();

        @Option(names = "--count", defaultValue = "200", description = "objects measured (default: 200)")
        int count;

        @Option(names = "--concurrency", defaultValue = "8", description = "connections at once (default: 8)")
        int concurrency;

        @Option(names = "--size", defaultValue = "10000", description = "object size in bytes (default: 10000)")
        int size;

        @Option(names = "--warmup", defaultValue = "0", description = "objects fetched first, not measured")
        int warmup;

        @Option(names = "--timeout-ms", defaultValue = "120000", description = "default: 120000")
        long timeoutMs;

        @picocli.CommandLine.ParentCommand
        LoadClient parent;

        @Override
        public Integer call() throws InterruptedException {
            return parent.print(target, new TtfbOptions(count, concurrency, size, warmup, timeoutMs), TtfbResult::ok);
        }
    }

    @Command(name = "hold", mixinStandardHelpOptions = true,
            description = "Held connections: open N, verify an object on each, hold them idle, count survivors.")
    static final class HoldCommand implements Callable<Integer> {
        @Mixin
        TargetOptions target = new TargetOptions();

        @Option(names = "--connections", defaultValue = "1000", description = "default: 1000")
        int connections;

        @Option(names = "--concurrency", defaultValue = "256", description = "set up at once (default: 256)")
        int concurrency;

        @Option(names = "--duration-ms", defaultValue = "5000", description = "hold time (default: 5000)")
        long durationMs;

        @Option(names = "--timeout-ms", defaultValue = "120000", description = "default: 120000")
        long timeoutMs;

        @picocli.CommandLine.ParentCommand
        LoadClient parent;

        @Override
        public Integer call() throws InterruptedException {
            return parent.print(target, new HoldOptions(connections, concurrency, durationMs, timeoutMs),
                    HoldResult::ok);
        }
    }
}
