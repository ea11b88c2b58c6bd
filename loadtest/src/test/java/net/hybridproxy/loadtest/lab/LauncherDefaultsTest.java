package net.hybridproxy.loadtest.lab;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The lab starts appliances with the launcher's own default JVM options, not options of its own. */
class LauncherDefaultsTest {
    @Test
    void theLabUsesTheLaunchersDefaultJvmOptions() throws Exception {
        String prefix = "default_java_opts=\"";
        String line = Files.readAllLines(Path.of("..", "bin", "hybridproxy")).stream()
                .filter(l -> l.startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError("bin/hybridproxy has no default_java_opts line"));
        List<String> launcher = Arrays.asList(line.substring(prefix.length(), line.lastIndexOf('"')).split(" "));
        assertEquals(launcher, ApplianceLauncher.LAUNCHER_JVM_ARGS);
    }
}
