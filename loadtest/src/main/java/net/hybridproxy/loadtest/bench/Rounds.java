package net.hybridproxy.loadtest.bench;

import java.util.ArrayList;
import java.util.List;
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
}
