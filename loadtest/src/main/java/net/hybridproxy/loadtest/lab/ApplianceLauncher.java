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

    private ApplianceLauncher() {
    }

    /**
     * Starts {@code run --config config} in {@code ns} and returns once a log line contains {@code readyLine}.
     * Fails with the process's output if it exits or does not get there within 30 s.
     */
    public static LabProcess start(Netns ns, Path config, String readyLine) {
        List<String> jvm = new ArrayList<>(JavaLauncher.DEFAULT_JVM_ARGS);
        jvm.add("--enable-native-access=ALL-UNNAMED");
        List<String> java = JavaLauncher.command(jvm, MAIN_CLASS, "run", "--config", config.toString());
        // exec: the JVM replaces the shell, so the process's pid is the appliance's (for CPU and memory figures).
        String shell = "exec " + String.join(" ", java.stream().map(ApplianceLauncher::quote).toList()) + " 2>&1";
        LabProcess process = ns.startLogged("appliance-" + config.getFileName(), "sh", "-c", shell);
        process.awaitStdoutLine(line -> line.contains(readyLine), Duration.ofSeconds(30));
        return process;
    }

    /** Single-quotes {@code arg} for sh. */
    public static String quote(String arg) {
        return "'" + arg.replace("'", "'\\''") + "'";
    }
}
