package net.hybridproxy.loadtest.loadgen;

import net.hybridproxy.loadtest.tool.ToolJson;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The process boundary: options become a command line and back, results become JSON and back, unchanged. */
class WorkloadRecordsTest {

    /** What the client's command line parses {@code arguments} into, without running anything. */
    private static Object parsed(LoadTarget target, Workload<?> workload) {
        LoadClient client = new LoadClient(new PrintStream(new ByteArrayOutputStream()));
        CommandLine cli = new CommandLine(client);
        CommandLine.ParseResult parse = cli.parseArgs(LoadClient.arguments(target, workload).toArray(String[]::new));
        Object command = parse.subcommand().commandSpec().userObject();
        LoadClient.TargetOptions t = switch (command) {
            case LoadClient.BulkCommand b -> b.target;
            case LoadClient.RequestResponseCommand r -> r.target;
            case LoadClient.TtfbCommand f -> f.target;
            case LoadClient.HoldCommand h -> h.target;
            default -> throw new AssertionError(command);
        };
        assertEquals(target, t.target());
        return switch (command) {
            case LoadClient.BulkCommand b -> b.options();
            case LoadClient.RequestResponseCommand r -> new RequestResponseOptions(r.clients, r.size, r.durationMs, r.newConnection);
            case LoadClient.TtfbCommand f -> new TtfbOptions(f.count, f.concurrency, f.size, f.warmup, f.timeoutMs);
            case LoadClient.HoldCommand h -> new HoldOptions(h.connections, h.concurrency, h.durationMs, h.timeoutMs);
            default -> throw new AssertionError(command);
        };
    }

    @Test
    void everyWorkloadsOptionsSurviveTheCommandLine() {
        LoadTarget target = new LoadTarget("198.18.0.1:5201", "198.18.1.2", true, 9, 3000, 2);
        List<Workload<?>> workloads = List.of(
                BulkOptions.transfer(true, 12345),
                BulkOptions.transfer(false, 0).expectingRefusal(),
                BulkOptions.timed(false, 2500).withConnections(4).withRateKbit(40_000).withTimeouts(60_000, 3_000),
                BulkOptions.timed(true, 1000),
                new RequestResponseOptions(8, 5000, 2000, true),
                new RequestResponseOptions(1, 100, 100, false),
                TtfbOptions.of(40, 4, 10_000).withWarmup(200),
                new HoldOptions(10_000, 500, 3000, 120_000));
        for (Workload<?> w : workloads) {
            assertEquals(w, parsed(target, w));
        }
        assertEquals(LoadTarget.of("127.0.0.1:1"), parsedTarget(LoadTarget.of("127.0.0.1:1")));
    }

    private static LoadTarget parsedTarget(LoadTarget target) {
        CommandLine cli = new CommandLine(new LoadClient(new PrintStream(new ByteArrayOutputStream())));
        Object bulk = cli.parseArgs(LoadClient.arguments(target, BulkOptions.transfer(true, 1))
                .toArray(String[]::new)).subcommand().commandSpec().userObject();
        return ((LoadClient.BulkCommand) bulk).target.target();
    }

    @Test
    void impossibleOptionsAreRefusedWhenTheRecordIsMade() {
        assertThrows(IllegalArgumentException.class, () -> BulkOptions.transfer(true, -1));
        assertThrows(IllegalArgumentException.class, () -> BulkOptions.timed(true, 100).withRateKbit(1000));
        assertThrows(IllegalArgumentException.class, () -> new BulkOptions(false, 1, 10, 10, 0, 100, 1, 1, false));
        assertThrows(IllegalArgumentException.class, () -> new TtfbOptions(1, 1, LoadServer.MAX_GET + 1, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> LoadTarget.of("no-port"));
    }

    @Test
    void aByteCountAndADurationTogetherAreRefused() {
        CommandLine cli = new CommandLine(new LoadClient(new PrintStream(new ByteArrayOutputStream())));
        Object bulk = cli.parseArgs("bulk", "--connect", "127.0.0.1:1", "--up", "5", "--duration-ms", "3")
                .subcommand().commandSpec().userObject();
        assertThrows(IllegalArgumentException.class, ((LoadClient.BulkCommand) bulk)::options);
        CommandLine again = new CommandLine(new LoadClient(new PrintStream(new ByteArrayOutputStream())));
        assertThrows(CommandLine.ParameterException.class, () -> again.parseArgs("bulk", "--connect",
                "127.0.0.1:1", "--up", "5", "--down", "5"));
    }

    @Test
    void everyResultSurvivesJson() {
        BulkResult bulk = new BulkResult(true, "down", 2, 0, 3000, false, 1_000_000, 17, 3.25, 2.46,
                Map.of("ok", 1, "reset", 1), 12345.67, 100, new long[] {0, 5, 99_999_999_999L}, 10,
                new long[] {0, 0, 7, 64_000}, 300,
                List.of(new BulkResult.BulkStream("ok", 1_000_000, "ab12", "198.18.0.2:40000", null, 12.5, null),
                        new BulkResult.BulkStream("reset", 17, null, "198.18.0.2:40001", null, 0, "connection closed")));
        BulkResult back = ToolJson.read(BulkResult.class, ToolJson.line(bulk));
        assertArrayEquals(bulk.timelineBytes(), back.timelineBytes());
        assertArrayEquals(bulk.earlyTimelineBytes(), back.earlyTimelineBytes());
        // Records with an array compare the array by identity: compare the rest through their JSON.
        assertEquals(ToolJson.line(bulk), ToolJson.line(back));
        assertEquals(bulk.streams(), back.streams());
        assertEquals(bulk.outcomes(), back.outcomes());

        LatencySummary l = new LatencySummary(40, 1.5, 2.25, 9.875, 12);
        for (Object r : List.of(new RequestResponseResult(true, 8, 1000, false, 1234.5, l, 0, 0),
                new TtfbResult(false, 40, 4, 10_000, 88.5, l, l, l, 1, 2),
                new HoldResult(true, 10_000, 10_000, 0, 4.5, 2222.2, 10_000))) {
            assertEquals(r, ToolJson.read(r.getClass(), ToolJson.line(r)));
        }
    }

    @Test
    void aResultLineIsFoundAmongOtherOutputAndGarbageIsRefused() {
        HoldResult h = new HoldResult(true, 1, 1, 0, 0.5, 2, 1);
        assertEquals(h, LoadClient.parseResult("starting\n" + ToolJson.line(h) + "\n", HoldResult.class));
        assertThrows(IllegalArgumentException.class, () -> LoadClient.parseResult("no json here", HoldResult.class));
        assertThrows(IllegalArgumentException.class, () -> LoadClient.parseResult("{\"ok\": tru", HoldResult.class));
    }
}
