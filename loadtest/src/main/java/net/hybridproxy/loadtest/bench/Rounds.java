package net.hybridproxy.loadtest.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * A figure of a system measured once per round ({@code --repeat N}, every suite): its median and range over the
 * rounds, and its ratio to another system's figure taken within each round. Systems of one round ran minutes apart
 * on the same machine; rounds ran up to an hour apart, and one system's CPU per connection or per GB moved by 15-25 %
 * between such runs of the same build (docs/decisions.md), so a ratio of medians would mix the two noises.
 */
final class Rounds {
    private Rounds() {
    }

    /** "1.23 (1.10–1.41)": the median of {@code values}, then the smallest and the largest. */
    static String spread(List<Double> values) {
        return Report.fmt(BenchmarkRunner.round(Report.percentile(values, 50), 2)) + " ("
                + Report.fmt(BenchmarkRunner.round(Report.percentile(values, 0), 2)) + "–"
                + Report.fmt(BenchmarkRunner.round(Report.percentile(values, 100), 2)) + ")";
    }

    /**
     * {@code figure} of each of {@code mine} over the same round's {@code figure} of {@code other}, for the rounds in
     * which both have it (and the other's is above zero).
     */
    static List<Double> ratiosWithinRounds(List<BenchmarkRow> mine, List<BenchmarkRow> other,
                                           Function<BenchmarkRow, Double> figure) {
        List<Double> ratios = new ArrayList<>();
        for (BenchmarkRow r : mine) {
            Double a = figure.apply(r);
            if (a == null) {
                continue;
            }
            for (BenchmarkRow o : other) {
                Double b = figure.apply(o);
                if (o.round() != null && o.round().equals(r.round()) && b != null && b > 0) {
                    ratios.add(a / b);
                    break;
                }
            }
        }
        return ratios;
    }

    /** The rows of rounds, by scenario and then by system, in the order they ran. */
    static Map<String, Map<String, List<BenchmarkRow>>> byScenarioAndSystem(List<BenchmarkRow> rounds) {
        Map<String, Map<String, List<BenchmarkRow>>> out = new LinkedHashMap<>();
        for (BenchmarkRow r : rounds) {
            out.computeIfAbsent(r.scenario(), k -> new LinkedHashMap<>())
                    .computeIfAbsent(r.system(), k -> new ArrayList<>()).add(r);
        }
        return out;
    }

    /**
     * "1.20 (0.90–1.20) × shadowsocks", one entry per other system of the scenario: {@code figure} of
     * {@code system}'s rounds over the other's, taken within each round ({@link #ratiosWithinRounds}).
     */
    static List<String> ratiosToOthers(String system, Map<String, List<BenchmarkRow>> systems,
                                       Function<BenchmarkRow, Double> figure) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, List<BenchmarkRow>> other : systems.entrySet()) {
            if (other.getKey().equals(system)) {
                continue;
            }
            List<Double> perRound = ratiosWithinRounds(systems.get(system), other.getValue(), figure);
            if (!perRound.isEmpty()) {
                out.add(spread(perRound) + " × " + other.getKey());
            }
        }
        return out;
    }

    /** "1.20 → 3.50": the 1-minute load average at the start of the first and of the last round, or "". */
    static String loadFirstToLast(List<BenchmarkRow> rounds) {
        List<Double> load = rounds.stream().filter(r -> r.loadAverage() != null && !r.loadAverage().isEmpty())
                .map(r -> r.loadAverage().getFirst()).toList();
        return load.isEmpty() ? "" : Report.fmt(load.getFirst()) + " → " + Report.fmt(load.getLast());
    }
}
