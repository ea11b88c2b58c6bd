package net.hybridproxy.proxy.ops;

import net.hybridproxy.proxy.testing.Promtool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.openqa.selenium.json.Json;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Grafana dashboard in deploy/grafana: importable (valid JSON, the data source is a variable), every query is
 * valid PromQL (promtool parses each as a recording rule), and every metric a query names is exported by a
 * running cpe or concentrator.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GrafanaDashboardTest {
    private static final Path DASHBOARD = Path.of("..", "deploy", "grafana", "hybridproxy.json");
    private static final Pattern METRIC = Pattern.compile("\\bhybridproxy_[a-z0-9_]+");

    private RunningAppliances pair;
    private Map<String, Object> dashboard;
    private List<String> queries;

    @BeforeAll
    void load() throws Exception {
        dashboard = new Json().toType(Files.readString(DASHBOARD), Json.MAP_TYPE);
        queries = new ArrayList<>();
        collectQueries(dashboard, queries);
    }

    @AfterAll
    void stop() throws Exception {
        if (pair != null) {
            pair.close();
        }
    }

    @Test
    void theDataSourceIsAVariableAndEveryPanelUsesIt() {
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> variables = (List<Map<String, Object>>) ((Map<String, Object>) dashboard
                .get("templating")).get("list");
        assertTrue(variables.stream().anyMatch(v -> "datasource".equals(v.get("type"))
                && "prometheus".equals(v.get("query")) && "datasource".equals(v.get("name"))), variables.toString());
        String text = readDashboard();
        assertFalse(text.matches("(?s).*\"uid\"\\s*:\\s*\"(?!\\$\\{datasource}|hybridproxy\").*"),
                "a panel names a concrete data source instead of ${datasource}");
        assertTrue(queries.size() >= 20, "queries found: " + queries.size());
    }

    @Test
    void everyQueryIsValidPromql() throws Exception {
        Assumptions.assumeTrue(Promtool.available(), "needs promtool (Debian package prometheus)");
        StringBuilder rules = new StringBuilder("groups:\n  - name: dashboard\n    rules:\n");
        for (int i = 0; i < queries.size(); i++) {
            String concrete = queries.get(i).replace("$__rate_interval", "1m").replace("$instance", ".*")
                    .replace("$role", ".*").replace("$lte_uplink", "lte");
            rules.append("      - record: dashboard:query").append(i).append("\n        expr: '")
                    .append(concrete.replace("'", "''")).append("'\n");
        }
        Path file = Files.createTempFile("dashboard-rules", ".yml");
        Files.writeString(file, rules);
        Process p = new ProcessBuilder("promtool", "check", "rules", file.toString()).redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
    }

    @Test
    void everyMetricTheDashboardQueriesIsExportedByARunningInstance() throws Exception {
        String skip = RunningAppliances.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        pair = RunningAppliances.start("dash");
        pair.send(1024 * 1024);
        Set<String> exported = new TreeSet<>();
        for (String scrape : List.of(pair.scrapeCpe(), pair.scrapeConcentrator())) {
            for (String sample : RunningAppliances.samples(scrape).keySet()) {
                exported.add(sample.replaceAll("\\{.*", ""));
            }
        }
        Set<String> missing = new TreeSet<>();
        for (String query : queries) {
            Matcher m = METRIC.matcher(query);
            boolean any = false;
            while (m.find()) {
                any = true;
                if (!exported.contains(m.group())) {
                    missing.add(m.group());
                }
            }
            assertTrue(any, "a query that names no hybridproxy metric: " + query);
        }
        assertTrue(missing.isEmpty(), "queried but not exported: " + missing + "\nexported: " + exported);
    }

    @SuppressWarnings("unchecked")
    private static void collectQueries(Object node, List<String> out) {
        if (node instanceof Map<?, ?> map) {
            Object expr = map.get("expr");
            if (expr instanceof String s) {
                out.add(s);
            }
            map.values().forEach(v -> collectQueries(v, out));
        } else if (node instanceof List<?> list) {
            list.forEach(v -> collectQueries(v, out));
        }
    }

    private static String readDashboard() {
        try {
            return Files.readString(DASHBOARD);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }
}
