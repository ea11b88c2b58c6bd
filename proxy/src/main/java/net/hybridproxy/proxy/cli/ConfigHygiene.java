package net.hybridproxy.proxy.cli;

import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.InvalidConfigException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * What {@code run} checks about a configuration file beyond its syntax: that its secrets are not the published
 * sample key, and that the file holding them is not readable by every user of the host.
 */
final class ConfigHygiene {
    /**
     * The key in this project's sample configurations (configs/*.conf). Anyone who read them knows it, so a process
     * proving or accepting it authenticates nobody.
     */
    static final List<byte[]> SAMPLE_KEYS = List.of(HexFormat.of().parseHex("8f1c2a7d4e6b9f0a1c3e5d7b9a0c2e4f"));

    private ConfigHygiene() {
    }

    /** Refuses a configuration that uses a published sample key (the demo builds its own configuration). */
    static void refuseSampleKeys(AppConfig config) throws InvalidConfigException {
        Stream<AppConfig.KeyRef> keys = Stream.concat(
                config.cpe().flatMap(AppConfig.Cpe::key).stream(),
                config.concentrator().map(c -> c.keys().stream()).orElseGet(Stream::empty));
        Optional<AppConfig.KeyRef> sample = keys.filter(k -> SAMPLE_KEYS.stream()
                .anyMatch(s -> java.util.Arrays.equals(s, k.secret()))).findFirst();
        if (sample.isPresent()) {
            throw InvalidConfigException.at("key '" + sample.get().id() + "'", "this is the sample key published in "
                    + "configs/*.conf, which authenticates nobody; generate one per cpe with: "
                    + "echo \"hex:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n')\"");
        }
    }

    /** A warning when {@code file} holds secrets and other users may read it; empty otherwise. */
    static Optional<String> permissionWarning(Path file, AppConfig config) {
        boolean secrets = config.cpe().flatMap(AppConfig.Cpe::key).isPresent()
                || config.concentrator().map(c -> !c.keys().isEmpty()).orElse(false)
                || !config.admin().token().isEmpty();
        if (!secrets) {
            return Optional.empty();
        }
        try {
            Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file);
            if (mode.contains(PosixFilePermission.OTHERS_READ)) {
                return Optional.of("configuration file " + file + " holds keys or the admin token and is readable by "
                        + "every user of this host; restrict it: chmod 600 " + file + " (or 640 with a dedicated "
                        + "group)");
            }
        } catch (IOException | UnsupportedOperationException e) {
            return Optional.empty(); // no POSIX permissions here: nothing to say
        }
        return Optional.empty();
    }
}
