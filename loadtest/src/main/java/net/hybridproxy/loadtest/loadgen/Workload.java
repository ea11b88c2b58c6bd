package net.hybridproxy.loadtest.loadgen;

import java.util.List;

/**
 * What a load client run does, as typed options: one record per workload. A caller in another JVM (the lab runs the
 * client inside a namespace) turns it into the client's command line with {@link #arguments()} and reads the JSON line
 * the client prints back into {@link #resultType()} ({@link LoadClient#command}, {@link LoadClient#parseResult}).
 *
 * @param <R> the workload's result record
 */
public sealed interface Workload<R> permits BulkOptions, RequestResponseOptions, TtfbOptions, HoldOptions {
    /** The client's subcommand. */
    String command();

    /** The subcommand's options, as {@link LoadClient} parses them back into this record. */
    List<String> arguments();

    Class<R> resultType();
}
