package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.JavaLauncher;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Netns;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Starts appliances in lab namespaces exactly as an operator runs them: {@code run --config FILE}. */
final class Appliances {
    private Appliances() {
    }

    /** Starts one and waits for {@code readyLine} in its log (stdout and stderr, one stream). */
    static LabProcess start(Netns ns, Path config, String readyLine) {
        List<String> jvm = new ArrayList<>(JavaLauncher.DEFAULT_JVM_ARGS);
        jvm.add("--enable-native-access=ALL-UNNAMED");
        List<String> java = JavaLauncher.command(jvm, "net.hybridproxy.proxy.cli.Main", "run", "--config",
                config.toString());
        // One stream for the log: the appliance logs to stderr.
        String shell = String.join(" ", java.stream().map(Appliances::quote).toList()) + " 2>&1";
        LabProcess process = ns.start("sh", "-c", "exec " + shell);
        process.awaitStdoutLine(line -> line.contains(readyLine), Duration.ofSeconds(30));
        return process;
    }

    private static String quote(String arg) {
        return "'" + arg.replace("'", "'\\''") + "'";
    }
}
