package net.hybridproxy.engine.multipath.sim;

import java.util.PriorityQueue;

/** Simulated time and the events scheduled in it; ties run in the order they were scheduled. */
final class EventQueue {

    private record Event(long at, long order, Runnable action) implements Comparable<Event> {
        @Override
        public int compareTo(Event other) {
            int byTime = Long.compare(at, other.at);
            return byTime != 0 ? byTime : Long.compare(order, other.order);
        }
    }

    private final PriorityQueue<Event> events = new PriorityQueue<>();
    private long order;
    private long now;

    long now() {
        return now;
    }

    void at(long time, Runnable action) {
        events.add(new Event(Math.max(time, now), order++, action));
    }

    long nextAt() {
        Event head = events.peek();
        return head == null ? Long.MAX_VALUE : head.at;
    }

    /** Advances to {@code time} (never backwards). */
    void advanceTo(long time) {
        now = Math.max(now, time);
    }

    /** Runs every event due at the current time; returns how many ran. */
    int runDue() {
        int ran = 0;
        while (!events.isEmpty() && events.peek().at <= now) {
            events.poll().action().run();
            ran++;
        }
        return ran;
    }
}
