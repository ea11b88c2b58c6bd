package net.hybridproxy.proxy.cli;

import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConfigHygieneTest {

    /** The sample configurations validate (check, docs) but never run: their key is public. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cpe.conf", "concentrator.conf", "cpe-userspace.conf"})
    void runRefusesTheSampleConfigsSharedKey(String sample) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(new String[] {"run", "--config", Path.of("..", "configs", sample).toString()},
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
        String message = err.toString(StandardCharsets.UTF_8);
        assertEquals(2, code, message);
        assertTrue(message.contains("sample key published in configs/*.conf"), message);
        assertTrue(message.contains("/dev/urandom"), "says how to make one: " + message);
    }

    @Test
    void aConfigWithSecretsReadableByOthersIsWarnedAbout() throws Exception {
        Path file = Files.createTempFile("hybridproxy-secret", ".conf");
        try {
            Files.writeString(file, """
                    hybridproxy {
                      role = concentrator
                      concentrator.keys = [{ id = cpe-1, key = "hex:00112233445566778899aabbccddeeff" }]
                    }
                    """);
            AppConfig config = ConfigLoader.load(file);
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
            String warning = ConfigHygiene.permissionWarning(file, config).orElseThrow();
            assertTrue(warning.contains("readable by every user") && warning.contains("chmod 600"), warning);

            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
            assertTrue(ConfigHygiene.permissionWarning(file, config).isEmpty());
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
