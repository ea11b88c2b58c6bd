package net.hybridproxy.loadtest.lab;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts the hybridproxy appliance inside a lab namespace exactly as an operator runs it,
 * {@code run --config FILE}, with its log (it logs to stderr) on the process's stdout, and waits for the line that
 * says it is serving.
 */
public final class ApplianceLauncher {
    /** Main class of the appliance's command line. */
    public static final String MAIN_CLASS = "net.hybridproxy.proxy.cli.Main";
    /**
     * The JVM options {@code bin/hybridproxy} (and the .deb's launcher) use when JAVA_OPTS is unset: the lab runs the
     * appliance the way users do. {@code LauncherDefaultsTest} keeps the two in step.
     */
    static final List<String> LAUNCHER_JVM_ARGS = List.of("-XX:+UseSerialGC", "-Xms32m", "-Xmn24m",
            "-XX:MaxRAMPercentage=25", "-XX:ErgoHeapSizeLimit=128m", "-Xss512k", "-XX:TrimNativeHeapInterval=1000",
            "-XX:+ExitOnOutOfMemoryError", "-XX:TieredStopAtLevel=1");
    /**
     * Environment variable: the memory the appliance's JVM believes the machine has ({@code -XX:MaxRAM}), e.g.
     * {@code 512m} to measure the launcher's defaults as on a 512 MB router. Unset: the real machine's.
     */
    private static final String MAX_RAM_VARIABLE = "HYBRIDPROXY_LAB_MAX_RAM";
    /**
     * Environment variable: JVM options appended to the launcher's defaults, as {@code HYBRIDPROXY_JAVA_OPTS} is by
     * {@code bin/hybridproxy}; e.g. {@code -XX:StartFlightRecording=...} to profile the appliances in a benchmark.
     */
    private static final String EXTRA_OPTS_VARIABLE = "HYBRIDPROXY_LAB_JAVA_OPTS";

    /**
     * How long an appliance may take to say it is serving. It starts in 1-3 s on an idle machine; on two cores at load
     * average 35-45 (benchmarks of others next to it) a concentrator took over 30 s and whole benchmark rows were
     * lost, so the bound is generous: it only turns a JVM that never comes up into a failure.
     */
    public static final Duration READY_WITHIN = Duration.ofSeconds(90);

    private ApplianceLauncher() {
    }

    /**
     * Starts {@code run --config config} in {@code ns} and returns once a log line contains {@code readyLine}.
     * Fails with the process's output if it exits or does not get there within {@link #READY_WITHIN}.
     */
    public static LabProcess start(Netns ns, Path config, String readyLine) {
        LabProcess process = launch(ns, config);
        awaitReady(process, readyLine);
        return process;
    }

    /**
     * Starts {@code run --config config} in {@code ns} with RLIMIT_NOFILE lowered to {@code openFiles} (soft and hard,
     * as {@code ulimit -n} in the unit's shell would), and waits for {@code readyLine}: an appliance on a host whose
     * descriptor limit is lower than its configuration needs.
     */
    public static LabProcess startWithOpenFiles(Netns ns, Path config, String readyLine, int openFiles) {
        LabProcess process = launch(ns, config, "ulimit -n " + openFiles + " && ");
        awaitReady(process, readyLine);
        return process;
    }

    /** Starts {@code run --config config} in {@code ns} without waiting; see {@link #awaitReady}. */
    public static LabProcess launch(Netns ns, Path config) {
        return launch(ns, config, "");
    }

    private static LabProcess launch(Netns ns, Path config, String shellPrefix) {
        List<String> jvm = new ArrayList<>(LAUNCHER_JVM_ARGS);
        String maxRam = System.getenv(MAX_RAM_VARIABLE);
        if (maxRam != null && !maxRam.isBlank()) {
            jvm.add("-XX:MaxRAM=" + maxRam.trim());
        }
        String extra = System.getenv(EXTRA_OPTS_VARIABLE);
        if (extra != null && !extra.isBlank()) {
            jvm.addAll(List.of(extra.trim().split("\\s+")));
        }
        jvm.add("--enable-native-access=ALL-UNNAMED");
        List<String> java = JavaLauncher.command(jvm, MAIN_CLASS, "run", "--config", config.toString());
        // exec: the JVM replaces the shell, so the process's pid is the appliance's (for CPU and memory figures).
        String shell = shellPrefix + "exec " + String.join(" ", java.stream().map(ApplianceLauncher::quote).toList()) + " 2>&1";
        return ns.startLogged("appliance-" + config.getFileName(), "sh", "-c", shell);
    }

    /**
     * Waits until the appliance logs a line containing {@code readyLine}; fails with its output after
     * {@link #READY_WITHIN}.
     */
    public static void awaitReady(LabProcess process, String readyLine) {
        process.awaitStdoutLine(line -> line.contains(readyLine), READY_WITHIN);
    }

    /** Single-quotes {@code arg} for sh. */
    public static String quote(String arg) {
        return "'" + arg.replace("'", "'\\''") + "'";
    }
}
