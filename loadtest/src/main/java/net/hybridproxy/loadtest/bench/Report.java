package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.Json;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Turns the runner's rows into {@code results.json}, {@code results.md} (one table, every figure) and SVG plots:
 * {@code goodput.svg} (bars per system, grouped by scenario; {@code goodput-unlimited.svg} for the unlimited links)
 * and {@code failover-<system>.svg} (per-uplink download rate through the DSL blackhole). Adds the ratios, which need every row of a scenario.
 */
final class Report {
    private static final String PROJECT = "hybridproxy";
    private static final String[] COLOURS = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#9c755f"};

    private Report() {
    }

    @SuppressWarnings("unchecked")
    static void write(Map<String, Object> report, Path dir) throws IOException {
        List<Map<String, Object>> rows = (List<Map<String, Object>>) report.get("results");
        addRatios(rows);
        Files.writeString(dir.resolve("results.json"), Json.writePretty(report));
        Files.writeString(dir.resolve("results.md"), markdown(report, rows));
        // Rate-limited scenarios and the unlimited one differ by two orders of magnitude: one scale would flatten
        // every bar but the unlimited ones, so they get a plot each.
        // Connection-count scenarios measure no goodput and stay out of both.
        Set<Object> holdScenarios = new LinkedHashSet<>();
        rows.stream().filter(r -> r.get("hold") != null).forEach(r -> holdScenarios.add(r.get("scenario")));
        List<Map<String, Object>> limited = rows.stream()
                .filter(r -> r.get("linkSumMbit") != null && !holdScenarios.contains(r.get("scenario"))).toList();
        List<Map<String, Object>> unlimited = rows.stream()
                .filter(r -> r.get("linkSumMbit") == null && !holdScenarios.contains(r.get("scenario"))).toList();
        Files.writeString(dir.resolve("goodput.svg"), goodputBars(limited));
        if (!unlimited.isEmpty()) {
            Files.writeString(dir.resolve("goodput-unlimited.svg"), goodputBars(unlimited));
        }
        for (Map<String, Object> row : rows) {
            if (row.get("blackholeAtSeconds") != null && row.get("uplinkTimeline") != null) {
                Files.writeString(dir.resolve("failover-" + row.get("system") + ".svg"), failoverPlot(row));
            }
        }
    }

    /** Re-renders {@code results.md} and the plots from a directory's {@code results.json}. */
    @SuppressWarnings("unchecked")
    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args.length > 0 ? args[0] : ".");
        write((Map<String, Object>) Json.parse(Files.readString(dir.resolve("results.json"))), dir);
    }

    /** Goodput as a share of the link sum, and against the best system that is not this project. */
    static void addRatios(List<Map<String, Object>> rows) {
        Map<String, Double> bestPeer = new LinkedHashMap<>();
        for (Map<String, Object> r : rows) {
            if (r.get("goodputMbps") instanceof Number g && !r.get("system").toString().startsWith(PROJECT)) {
                bestPeer.merge(r.get("scenario").toString(), g.doubleValue(), Math::max);
            }
        }
        for (Map<String, Object> r : rows) {
            if (!(r.get("goodputMbps") instanceof Number g)) {
                continue;
            }
            if (r.get("linkSumMbit") instanceof Number sum && sum.doubleValue() > 0) {
                r.put("ratioToLinkSum", BenchmarkRunner.round(g.doubleValue() / sum.doubleValue(), 2));
            }
            Double best = bestPeer.get(r.get("scenario").toString());
            if (best != null && best > 0) {
                r.put("ratioToBestPeer", BenchmarkRunner.round(g.doubleValue() / best, 2));
            }
        }
    }

    @SuppressWarnings("unchecked")
    static String markdown(Map<String, Object> report, List<Map<String, Object>> rows) {
        Map<String, Object> m = (Map<String, Object>) report.get("machine");
        StringBuilder sb = new StringBuilder();
        sb.append("# Benchmark results: ").append(report.get("suite")).append(" suite, ").append(report.get("date"))
                .append("\n\n");
        sb.append("Machine: ").append(m.get("cores")).append(" cores (").append(m.get("cpu")).append("), ")
                .append(m.get("memoryGiB")).append(" GiB, kernel ").append(m.get("kernel")).append(", Java ")
                .append(m.get("java")).append("; 1-minute load average ").append(m.get("loadAverage1m"))
                .append(" at start, ").append(report.get("loadAverageAtEnd")).append(" at end. Download ")
                .append(report.get("downloadMs")).append(" ms on one connection per system; systems interleaved"
                        + " within each scenario.\n\n");
        sb.append("| scenario | system | goodput Mb/s | × link sum | × best peer | failover stall s | longest stall ms"
                + " | bytes lost | TTFB p50/p99 ms | setup /s | CPU s/GB | peak RSS MiB | LTE share | notes |\n");
        sb.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (Map<String, Object> r : rows) {
            sb.append("| ").append(r.get("scenario")).append(" | ").append(r.get("system")).append(" | ");
            if (r.containsKey("skipped")) {
                sb.append("| | | | | | | | | | | ").append(r.get("skipped")).append(" |\n");
                continue;
            }
            sb.append(fmt(r.get("goodputMbps"))).append(" | ").append(fmt(r.get("ratioToLinkSum"))).append(" | ")
                    .append(fmt(r.get("ratioToBestPeer"))).append(" | ").append(fmt(r.get("failoverStallSeconds")))
                    .append(" | ").append(r.get("longestStallMs") instanceof Number n ? String.valueOf(n.longValue())
                            : "")
                    .append(" | ").append(bytes(r.get("bytesLost"))).append(" | ");
            if (r.get("ttfbP50Ms") != null) {
                sb.append(fmt(r.get("ttfbP50Ms"))).append(" / ").append(fmt(r.get("ttfbP99Ms")));
            }
            Object setup = r.get("hold") instanceof Map<?, ?> h ? h.get("connectionsPerSecond")
                    : r.get("setupPerSecond32");
            sb.append(" | ").append(fmt(setup));
            sb.append(" | ").append(fmt(r.get("cpuSecondsPerGB"))).append(" | ")
                    .append(r.get("peakRssBytes") instanceof Number n ? fmt(n.longValue() / 1048576.0) : "")
                    .append(" | ").append(r.get("lteShare") instanceof Number n ? fmt(n.doubleValue() * 100) + " %" : "")
                    .append(" | ").append(notes(r)).append(" |\n");
        }
        sb.append("\nGoodput counts only bytes verified against the pattern and the server's SHA-256. Failover stall:"
                + " longest run of 100 ms intervals after the blackhole below 10 % of the LTE rate. Longest stall:"
                + " longest run of 100 ms intervals, after the download's first second, below 10 % of its mean"
                + " goodput. Setup /s: new connections per second, a 10 kB object each, 32 clients at once (in the held-"
                + "connections scenario: connections opened per second, 500 at once). Bytes lost: bytes the"
                + " server sent that the client did not verify (blank when the stream never ended, so the server"
                + " could not say what it sent). × best peer: against the best system that is not"
                + " this project. CPU and RSS are the proxy processes' (none for direct and kernel MPTCP).\n");
        return sb.toString();
    }

    private static String notes(Map<String, Object> r) {
        List<String> n = new ArrayList<>();
        if (r.get("error") != null) {
            n.add("error: " + r.get("error"));
        }
        if (Boolean.FALSE.equals(r.get("recovered"))) {
            n.add("never recovered while the server was sending");
        }
        if (Boolean.FALSE.equals(r.get("ok")) && r.get("outcomes") != null) {
            n.add("transfer not verified: " + r.get("outcomes"));
        }
        if (r.get("serverVerdict") instanceof String v && !v.contains("result=MATCH")) {
            n.add("server: " + v);
        }
        if (r.get("hold") instanceof Map<?, ?> h) {
            n.add(h.get("verified") + "/" + h.get("connections") + " connections verified, " + h.get("errors")
                    + " errors, " + fmt(h.get("connectionsPerSecond")) + " conn/s");
            if (r.get("holdConnectionsRequested") instanceof Number asked
                    && asked.longValue() != ((Number) h.get("connections")).longValue()) {
                n.add(asked + " asked for: the open-file limit allows a relay no more");
            }
        }
        if (r.get("seriesLongestStallMs") instanceof List<?> stalls) {
            n.add(r.get("downloads") + " downloads: longest stall per download " + stalls + " ms; "
                    + r.get("downloadsWithStallOver200Ms") + " with a stall of 200 ms or more; goodput "
                    + r.get("seriesGoodputMbps") + " Mb/s");
        }
        if (Boolean.FALSE.equals(r.get("ttfbOk"))) {
            n.add("some small objects failed");
        }
        return String.join("; ", n).replace("|", "/");
    }

    private static String fmt(Object v) {
        if (v instanceof Number n) {
            double d = n.doubleValue();
            return d >= 100 ? String.format(Locale.ROOT, "%.0f", d) : String.format(Locale.ROOT, "%.2f", d);
        }
        return v == null ? "" : v.toString();
    }

    private static String bytes(Object v) {
        if (!(v instanceof Number n)) {
            return "";
        }
        long b = n.longValue();
        return b == 0 ? "0" : b < 1 << 20 ? (b >> 10) + " KiB" : fmt(b / 1048576.0) + " MiB";
    }

    // ------------------------------------------------------------------ SVG

    static String goodputBars(List<Map<String, Object>> rows) {
        Set<String> scenarios = new LinkedHashSet<>();
        Set<String> systems = new LinkedHashSet<>();
        double max = 1;
        for (Map<String, Object> r : rows) {
            scenarios.add(r.get("scenario").toString());
            systems.add(r.get("system").toString());
            if (r.get("goodputMbps") instanceof Number g) {
                max = Math.max(max, g.doubleValue());
            }
        }
        List<String> sys = new ArrayList<>(systems);
        int barW = 16;
        int groupW = sys.size() * barW + 30;
        int left = 60;
        int top = 40;
        int plotH = 300;
        int width = left + scenarios.size() * groupW + 220;
        int height = top + plotH + 60;
        double scale = niceCeiling(max);
        StringBuilder s = svgStart(width, height, "Goodput per system and scenario (Mb/s, one verified download)");
        axis(s, left, top, plotH, scale, scenarios.size() * groupW);
        int gi = 0;
        for (String sc : scenarios) {
            int gx = left + gi * groupW + 15;
            for (Map<String, Object> r : rows) {
                if (!r.get("scenario").equals(sc) || !(r.get("goodputMbps") instanceof Number g)) {
                    continue;
                }
                int si = sys.indexOf(r.get("system").toString());
                double h = g.doubleValue() / scale * plotH;
                s.append(String.format(Locale.ROOT,
                        "<rect x='%d' y='%.1f' width='%d' height='%.1f' fill='%s'><title>%s %s: %.1f Mb/s</title></rect>\n",
                        gx + si * barW, top + plotH - h, barW - 2, h, COLOURS[si % COLOURS.length], sc, r.get("system"),
                        g.doubleValue()));
            }
            if (rows.stream().anyMatch(r -> r.get("scenario").equals(sc) && r.get("linkSumMbit") instanceof Number)) {
                double sum = rows.stream().filter(r -> r.get("scenario").equals(sc))
                        .map(r -> r.get("linkSumMbit")).filter(x -> x instanceof Number)
                        .mapToDouble(x -> ((Number) x).doubleValue()).findFirst().orElse(0);
                double y = top + plotH - sum / scale * plotH;
                s.append(String.format(Locale.ROOT, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#333' "
                        + "stroke-dasharray='4 3'><title>link sum %.0f Mb/s</title></line>\n", gx - 4,
                        gx + sys.size() * barW, y, y, sum));
            }
            s.append(String.format(Locale.ROOT, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>%s</text>\n",
                    gx + sys.size() * barW / 2, top + plotH + 18, esc(sc)));
            gi++;
        }
        legend(s, left + scenarios.size() * groupW + 10, top, sys);
        s.append(String.format(Locale.ROOT, "<text x='%d' y='%d' font-size='11'>dashed: sum of the link rates</text>\n",
                left, top + plotH + 40));
        return s.append("</svg>\n").toString();
    }

    @SuppressWarnings("unchecked")
    static String failoverPlot(Map<String, Object> row) {
        Map<String, Object> tl = (Map<String, Object>) row.get("uplinkTimeline");
        List<Number> t = (List<Number>) tl.get("seconds");
        List<Number> dsl = (List<Number>) tl.get("dslMbps");
        List<Number> lte = (List<Number>) tl.get("lteMbps");
        double[] goodput = row.get("goodputTimeline") instanceof double[] g ? g
                : ((List<Number>) row.get("goodputTimeline")).stream().mapToDouble(Number::doubleValue).toArray();
        double tmax = t.stream().mapToDouble(Number::doubleValue).max().orElse(1);
        double vmax = 1;
        for (List<Number> series : List.of(dsl, lte)) {
            vmax = Math.max(vmax, series.stream().mapToDouble(Number::doubleValue).max().orElse(0));
        }
        for (double g : goodput) {
            vmax = Math.max(vmax, g);
        }
        double scale = niceCeiling(vmax);
        int left = 60;
        int top = 40;
        int plotW = 640;
        int plotH = 260;
        StringBuilder s = svgStart(left + plotW + 160, top + plotH + 60, "Download through a DSL blackhole: "
                + row.get("system") + " (Mb/s over seconds)");
        axis(s, left, top, plotH, scale, plotW);
        polyline(s, t.stream().mapToDouble(Number::doubleValue).toArray(),
                dsl.stream().mapToDouble(Number::doubleValue).toArray(), left, top, plotW, plotH, tmax, scale, COLOURS[0]);
        polyline(s, t.stream().mapToDouble(Number::doubleValue).toArray(),
                lte.stream().mapToDouble(Number::doubleValue).toArray(), left, top, plotW, plotH, tmax, scale, COLOURS[1]);
        double[] gt = new double[goodput.length];
        for (int i = 0; i < gt.length; i++) {
            gt[i] = (i + 1) * 0.1;
        }
        polyline(s, gt, goodput, left, top, plotW, plotH, tmax, scale, "#222");
        if (row.get("blackholeAtSeconds") instanceof Number at) {
            double x = left + at.doubleValue() / tmax * plotW;
            s.append(String.format(Locale.ROOT, "<line x1='%.1f' x2='%.1f' y1='%d' y2='%d' stroke='#e15759' "
                    + "stroke-dasharray='5 3'/><text x='%.1f' y='%d' font-size='11' fill='#e15759'>DSL blackholed</text>\n",
                    x, x, top, top + plotH, x + 4, top + 12));
        }
        for (int sec = 0; sec <= (int) tmax; sec++) {
            s.append(String.format(Locale.ROOT, "<text x='%.1f' y='%d' font-size='10' text-anchor='middle'>%d</text>\n",
                    left + sec / tmax * plotW, top + plotH + 14, sec));
        }
        legend(s, left + plotW + 10, top, List.of("DSL (cpe rx)", "LTE (cpe rx)"));
        s.append(String.format(Locale.ROOT, "<rect x='%d' y='%d' width='10' height='10' fill='#222'/>"
                + "<text x='%d' y='%d' font-size='12'>verified goodput</text>\n", left + plotW + 10, top + 40,
                left + plotW + 26, top + 49));
        return s.append("</svg>\n").toString();
    }

    private static void polyline(StringBuilder s, double[] xs, double[] ys, int left, int top, int plotW, int plotH,
                                 double xmax, double ymax, String colour) {
        StringBuilder pts = new StringBuilder();
        for (int i = 0; i < Math.min(xs.length, ys.length); i++) {
            if (xs[i] < 0 || xs[i] > xmax) {
                continue;
            }
            pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", left + xs[i] / xmax * plotW,
                    top + plotH - Math.min(ys[i], ymax) / ymax * plotH));
        }
        s.append("<polyline fill='none' stroke-width='1.5' stroke='").append(colour).append("' points='")
                .append(pts.toString().strip()).append("'/>\n");
    }

    private static StringBuilder svgStart(int width, int height, String title) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
                + "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n", width, height));
        s.append("<text x='10' y='20' font-size='14' font-weight='bold'>").append(esc(title)).append("</text>\n");
        return s;
    }

    private static void axis(StringBuilder s, int left, int top, int plotH, double max, int plotW) {
        for (int i = 0; i <= 4; i++) {
            double v = max * i / 4;
            double y = top + plotH - plotH * i / 4.0;
            s.append(String.format(Locale.ROOT, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#ddd'/>"
                    + "<text x='%d' y='%.1f' font-size='10' text-anchor='end'>%.0f</text>\n", left, left + plotW, y, y,
                    left - 4, y + 3, v));
        }
    }

    private static void legend(StringBuilder s, int x, int y, List<String> names) {
        for (int i = 0; i < names.size(); i++) {
            s.append(String.format(Locale.ROOT, "<rect x='%d' y='%d' width='10' height='10' fill='%s'/>"
                    + "<text x='%d' y='%d' font-size='12'>%s</text>\n", x, y + i * 18, COLOURS[i % COLOURS.length],
                    x + 16, y + i * 18 + 9, esc(names.get(i))));
        }
    }

    private static double niceCeiling(double v) {
        double magnitude = Math.pow(10, Math.floor(Math.log10(v)));
        for (double step : new double[] {1, 2, 2.5, 5, 10}) {
            if (step * magnitude >= v) {
                return step * magnitude;
            }
        }
        return 10 * magnitude;
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;");
    }
}
