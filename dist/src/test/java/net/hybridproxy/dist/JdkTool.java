package net.hybridproxy.dist;

import java.nio.file.Path;

/** Tools of the JDK running the tests (jlink, jwebserver). */
final class JdkTool {
    private JdkTool() {
    }

    static String path(String tool) {
        return Path.of(System.getProperty("java.home"), "bin", tool).toString();
    }
}
