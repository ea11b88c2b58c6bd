package net.hybridproxy.dist;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Builds and runs the project's container image with podman where no registry is reachable: the base is a local
 * debootstrap'd Debian (made once and reused), the build stage's JDK is this machine's JDK mounted where Eclipse
 * Temurin's image keeps it, and Maven runs offline against this machine's repository mounted as an overlay (the
 * build sees it, writes nothing back). A user with a registry runs plain {@code docker build .} instead.
 */
final class Podman {
    static final String BASE_IMAGE = "localhost/hybridproxy-base:bookworm";
    static final String IMAGE = "localhost/hybridproxy:ci";
    static final Path TOP = Path.of(System.getProperty("hybridproxy.top", "..")).toAbsolutePath().normalize();
    static final Path JDK = Path.of(System.getProperty("java.home"));
    private static final Path WORK = Path.of("/var/tmp/hybridproxy-ci");
    private static volatile boolean imageBuilt;

    private Podman() {
    }

    /** Null when podman can build and run images here, else a one-line reason to skip. */
    static String skipReason() {
        if (!"root".equals(System.getProperty("user.name"))) {
            return "needs root (podman with network namespaces; runs in CI as root)";
        }
        for (String tool : List.of("podman", "runc", "debootstrap")) {
            if (!onPath(tool)) {
                return "needs " + tool + " (Debian packages podman, runc, debootstrap; .ci/run installs them)";
            }
        }
        try {
            String conf = Files.readString(Path.of("/etc/containers/containers.conf"));
            if (!conf.contains("runtime = \"runc\"")) {
                return "needs runtime = \"runc\" in /etc/containers/containers.conf (.ci/run writes it)";
            }
        } catch (IOException e) {
            return "needs /etc/containers/containers.conf with runtime = \"runc\" (.ci/run writes it)";
        }
        return null;
    }

    static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return Files.isExecutable(Path.of("/usr/sbin", tool)) || Files.isExecutable(Path.of("/sbin", tool));
    }

    /** The local stand-in for debian:bookworm-slim, made by debootstrap on first use (about 90 s) and kept. */
    static void ensureBaseImage() throws IOException {
        run(Duration.ofMinutes(10), "base-image", List.of("bash",
                TOP.resolve("dist/src/test/sh/local-base-image.sh").toString(), BASE_IMAGE, WORK.toString()));
    }

    /** Builds the top-level Dockerfile once per test JVM; returns the image name. */
    static synchronized String buildImage() throws IOException {
        if (imageBuilt) {
            return IMAGE;
        }
        ensureBaseImage();
        Path m2 = Path.of(System.getProperty("user.home"), ".m2");
        List<String> build = new ArrayList<>(List.of("podman", "build", "--network", "host",
                "--build-arg", "BUILD_IMAGE=" + BASE_IMAGE, "--build-arg", "RUNTIME_IMAGE=" + BASE_IMAGE,
                "--build-arg", "MAVEN_ARGS=-o",
                "-v", m2 + ":/root/.m2:O",
                "-v", JDK + ":/opt/java/openjdk:ro"));
        // Debian's JDK packaging links cacerts to the system store; jlink needs the file.
        Path cacerts = JDK.resolve("lib/security/cacerts");
        if (Files.isSymbolicLink(cacerts)) {
            Path target = cacerts.toRealPath().getParent();
            build.addAll(List.of("-v", target + ":" + target + ":ro"));
        }
        build.addAll(List.of("-t", IMAGE, TOP.toString()));
        run(Duration.ofMinutes(15), "image-build", build);
        imageBuilt = true;
        return IMAGE;
    }

    /** The image's size in bytes as podman reports it (the sum of its layers, uncompressed). */
    static long imageSize(String image) throws IOException {
        return Long.parseLong(run(Duration.ofSeconds(30), "image-size",
                List.of("podman", "image", "inspect", "--format", "{{.Size}}", image)).strip());
    }

    /** Runs a host command with its output in target/podman-NAME.log; throws with the output's tail on failure. */
    static String run(Duration timeout, String name, List<String> command) throws IOException {
        Path log = Path.of("target", "podman-" + name + ".log").toAbsolutePath();
        Files.createDirectories(log.getParent());
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + " did not finish in " + timeout + "\n" + tail(log));
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        String output = Files.readString(log);
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " exited " + p.exitValue() + "\n" + tail(log));
        }
        return output;
    }

    private static String tail(Path log) throws IOException {
        String s = Files.readString(log);
        return s.length() <= 6000 ? s : s.substring(s.length() - 6000);
    }
}
