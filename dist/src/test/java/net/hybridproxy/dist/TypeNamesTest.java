package net.hybridproxy.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Modifier;
import java.net.URI;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every type the project declares, top-level or nested, in main or test sources of any module, has a simple name of
 * its own, and none shadows a public type of {@code java.lang}, {@code java.util}, {@code java.nio.file},
 * {@code java.time} or {@code java.util.regex}. Two types with one simple name make every file that sees both pick
 * one by import and qualify the other, and make a stack trace or a log line ambiguous; a shadowed JDK type turns a
 * missing import into a wrong type instead of a compile error.
 *
 * <p>The sources are read as text (comments and literals blanked), so a new module is covered without listing it.
 */
class TypeNamesTest {
    /** Names allowed to repeat, each with its reason. None today; keep it that way. */
    private static final Map<String, String> EXCEPTIONS = Map.of();

    private static final List<String> JDK_PACKAGES =
            List.of("java.lang", "java.util", "java.nio.file", "java.time", "java.util.regex");

    private static final java.util.regex.Pattern COMMENT_OR_LITERAL = java.util.regex.Pattern.compile(
            "/\\*.*?\\*/|//[^\\n]*|\"\"\"(?s:.*?)\"\"\"|\"(?:\\\\.|[^\"\\\\\\n])*\"|'(?:\\\\.|[^'\\\\\\n])+'",
            java.util.regex.Pattern.DOTALL);
    /** A class, interface, enum or annotation declaration, or a record header (a name, then a parameter list). */
    private static final java.util.regex.Pattern DECLARATION = java.util.regex.Pattern.compile(
            "(?<![\\w.])(?:(?:class|interface|enum)\\s+([A-Z]\\w*)|@interface\\s+([A-Z]\\w*)"
                    + "|record\\s+([A-Z]\\w*)\\s*[(<])");

    @Test
    void noTwoTypesShareASimpleName() throws IOException {
        Map<String, List<String>> declared = declaredTypes(top());
        assertTrue(declared.size() > 300, "the scan found only " + declared.size() + " type names under " + top());
        List<String> clashes = new ArrayList<>();
        declared.forEach((name, where) -> {
            if (where.size() > 1 && !EXCEPTIONS.containsKey(name)) {
                clashes.add(name + " declared in " + where);
            }
        });
        assertEquals(List.of(), clashes, "simple type names declared more than once; rename so each says what it is");
    }

    @Test
    void noTypeShadowsACommonJdkType() throws IOException {
        Set<String> jdk = publicJdkTypes();
        assertTrue(jdk.containsAll(Set.of("Pattern", "Path", "Duration", "Process", "Module", "Record", "Timer")),
                "the JDK scan missed common types: " + jdk.size() + " found");
        List<String> shadows = new ArrayList<>();
        declaredTypes(top()).forEach((name, where) -> {
            if (jdk.contains(name) && !EXCEPTIONS.containsKey(name)) {
                shadows.add(name + " declared in " + where);
            }
        });
        assertEquals(List.of(), shadows, "types shadowing a java.lang/util/nio.file/time/util.regex type");
    }

    @Test
    void theScannerSeesNestedRecordsAndIgnoresCommentsAndStrings() {
        String source = """
                package p;
                /** A class Quoted in a comment. */
                public final class Outer {
                    record Inner(int a) { }
                    private enum Kind { A }
                    String s = "interface NotAType";
                    Class<?> c = Outer.class;
                    // record Commented(int x)
                    sealed interface Result permits Ok { }
                }
                """;
        List<String> names = new ArrayList<>();
        Matcher m = DECLARATION.matcher(blank(source));
        while (m.find()) {
            names.add(name(m));
        }
        assertEquals(List.of("Outer", "Inner", "Kind", "Result"), names);
    }

    /** The repository's top directory: the module's parent, as Maven runs tests in the module's directory. */
    private static Path top() {
        Path top = Podman.TOP;
        assertTrue(Files.isRegularFile(top.resolve("mvnw")), "not the repository's top: " + top);
        return top;
    }

    private static Map<String, List<String>> declaredTypes(Path top) throws IOException {
        Map<String, List<String>> declared = new TreeMap<>();
        List<Path> sourceRoots;
        try (Stream<Path> modules = Files.list(top)) {
            sourceRoots = modules.filter(Files::isDirectory)
                    .flatMap(module -> Stream.of(module.resolve("src/main/java"), module.resolve("src/test/java")))
                    .filter(Files::isDirectory)
                    .toList();
        }
        for (Path root : sourceRoots) {
            try (Stream<Path> files = Files.walk(root)) {
                files.filter(f -> f.toString().endsWith(".java")).sorted().forEach(file -> {
                    Matcher m = DECLARATION.matcher(blank(read(file)));
                    while (m.find()) {
                        declared.computeIfAbsent(name(m), n -> new ArrayList<>()).add(top.relativize(file).toString());
                    }
                });
            }
        }
        return declared;
    }

    private static String name(Matcher m) {
        for (int group = 1; group <= m.groupCount(); group++) {
            if (m.group(group) != null) {
                return m.group(group);
            }
        }
        throw new IllegalStateException("no name in " + m.group());
    }

    /** Replaces comments and literals with a space, so words inside them are not read as declarations. */
    private static String blank(String source) {
        return COMMENT_OR_LITERAL.matcher(source).replaceAll(" ");
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The public top-level types of {@link #JDK_PACKAGES}, read from the running JDK's module image. */
    private static Set<String> publicJdkTypes() throws IOException {
        Set<String> names = new TreeSet<>();
        Path javaBase = FileSystems.getFileSystem(URI.create("jrt:/")).getPath("/modules/java.base");
        for (String pkg : JDK_PACKAGES) {
            try (Stream<Path> classes = Files.list(javaBase.resolve(pkg.replace('.', '/')))) {
                for (Path file : classes.toList()) {
                    String simple = file.getFileName().toString();
                    if (!simple.endsWith(".class") || simple.contains("$") || simple.equals("package-info.class")) {
                        continue;
                    }
                    simple = simple.substring(0, simple.length() - ".class".length());
                    if (isPublic(pkg + "." + simple)) {
                        names.add(simple);
                    }
                }
            }
        }
        return names;
    }

    private static boolean isPublic(String className) {
        try {
            return Modifier.isPublic(Class.forName(className, false, ClassLoader.getPlatformClassLoader())
                    .getModifiers());
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }
}
