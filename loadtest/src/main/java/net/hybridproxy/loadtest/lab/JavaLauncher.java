package net.hybridproxy.loadtest.lab;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

/**
 * Builds command lines that start another JVM (same binary as the running one) with the test
 * classpath, for programs run inside namespaces such as the load generator.
 */
public final class JavaLauncher {
    /** Small heap and serial GC: several of these run side by side on a small test machine. */
    public static final List<String> DEFAULT_JVM_ARGS = List.of("-Xmx256m", "-XX:+UseSerialGC", "-Xshare:auto");

    private static volatile String cachedClasspath;

    private JavaLauncher() {
    }

    /** The java executable of the running JVM. */
    private static String javaBinary() {
        Optional<String> cmd = ProcessHandle.current().info().command();
        if (cmd.isPresent() && Files.isExecutable(Path.of(cmd.get()))) {
            return cmd.get();
        }
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /**
     * A classpath usable by a child JVM: test classes, main classes and dependency jars.
     *
     * <p>A test runner may start the test JVM from a manifest-only jar whose manifest
     * {@code Class-Path} lists the real entries as relative URLs; those are expanded here because
     * a child started with just that jar in another working directory could misresolve them, and
     * a plain directory listing is easier to read in a failure message. The directory holding
     * this class and its sibling {@code classes} directory are added in case neither shows up.
     */
    private static String classpath() {
        String cp = cachedClasspath;
        if (cp == null) {
            cp = String.join(File.pathSeparator, computeClasspath());
            cachedClasspath = cp;
        }
        return cp;
    }

    /** {@code java <jvmArgs> -cp <classpath> <mainClass> <args>}. */
    public static List<String> command(List<String> jvmArgs, String mainClass, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(javaBinary());
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(classpath());
        cmd.add(mainClass);
        cmd.addAll(List.of(args));
        return cmd;
    }

    private static List<String> computeClasspath() {
        Set<Path> entries = new LinkedHashSet<>();
        for (String key : List.of("java.class.path", "surefire.test.class.path")) {
            String value = System.getProperty(key);
            if (value == null || value.isBlank()) {
                continue;
            }
            for (String e : value.split(File.pathSeparator)) {
                if (!e.isBlank()) {
                    addWithManifestClassPath(Path.of(e).toAbsolutePath().normalize(), entries);
                }
            }
        }
        ownLocation().ifPresent(own -> {
            entries.add(own);
            Path classes = own.resolveSibling("classes");
            if (own.getFileName().toString().equals("test-classes") && Files.isDirectory(classes)) {
                entries.add(classes);
            }
        });
        return entries.stream().filter(Files::exists).map(Path::toString).toList();
    }

    private static void addWithManifestClassPath(Path entry, Set<Path> entries) {
        if (!entries.add(entry) || !Files.isRegularFile(entry) || !entry.toString().endsWith(".jar")) {
            return;
        }
        try (JarFile jar = new JarFile(entry.toFile())) {
            Manifest mf = jar.getManifest();
            String cp = mf == null ? null : mf.getMainAttributes().getValue(Attributes.Name.CLASS_PATH);
            if (cp == null) {
                return;
            }
            URI base = entry.getParent().toUri();
            for (String rel : cp.trim().split("\\s+")) {
                try {
                    URI u = base.resolve(new URI(rel));
                    if ("file".equals(u.getScheme())) {
                        addWithManifestClassPath(Path.of(u).normalize(), entries);
                    }
                } catch (URISyntaxException | IllegalArgumentException ignored) {
                    // An entry we cannot interpret is one the JVM itself would skip too.
                }
            }
        } catch (IOException ignored) {
            // Unreadable jar: keep it as is and let the child JVM report it if it matters.
        }
    }

    private static Optional<Path> ownLocation() {
        try {
            var src = JavaLauncher.class.getProtectionDomain().getCodeSource();
            return src == null ? Optional.empty() : Optional.of(Path.of(src.getLocation().toURI()).normalize());
        } catch (URISyntaxException | SecurityException e) {
            return Optional.empty();
        }
    }
}
