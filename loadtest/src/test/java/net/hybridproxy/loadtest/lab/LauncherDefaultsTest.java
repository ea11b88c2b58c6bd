package net.hybridproxy.loadtest.lab;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** The lab starts appliances with the launcher's own default JVM options, not options of its own. */
class LauncherDefaultsTest {
    @Test
    void theLabUsesTheLaunchersDefaultJvmOptions() throws Exception {
        // The launcher sets its defaults on one line and may extend them on later ones
        // (default_java_opts="$default_java_opts ..."): the memory flags, then the JIT's.
        String prefix = "default_java_opts=\"";
        String extension = "$default_java_opts ";
        List<String> launcher = new ArrayList<>();
        List<String> lines = Files.readAllLines(Path.of("..", "bin", "hybridproxy")).stream()
                .filter(l -> l.startsWith(prefix)).toList();
        assertFalse(lines.isEmpty(), "bin/hybridproxy has no default_java_opts line");
        for (String line : lines) {
            String value = line.substring(prefix.length(), line.lastIndexOf('"'));
            if (value.startsWith(extension)) {
                value = value.substring(extension.length());
            } else {
                launcher.clear();
            }
            launcher.addAll(Arrays.asList(value.split(" ")));
        }
        assertEquals(launcher, ApplianceLauncher.LAUNCHER_JVM_ARGS);
    }
}
