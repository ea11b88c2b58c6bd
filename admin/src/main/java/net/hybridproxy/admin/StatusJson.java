package net.hybridproxy.admin;

import java.util.List;

/** The JSON forms of the admin API's answers; field names are the API's contract (see the docs). */
final class StatusJson {
    private StatusJson() {
    }

    static String status(ApplianceStatus s) {
        JsonWriter w = new JsonWriter().beginObject()
                .field("role", s.role())
                .field("engine", s.engine())
                .field("transport", s.transport())
                .field("uptimeSeconds", s.uptimeSeconds())
                .field("sampledAtMillis", s.sampledAtMillis());
        w.name("connections");
        ApplianceStatus.Connections c = s.connections();
        w.beginObject()
                .field("active", c.active())
                .field("max", c.max())
                .field("total", c.total())
                .field("refused", c.refused())
                .field("mptcpFallbacks", c.mptcpFallbacks())
                .field("authFailures", c.authFailures())
                .field("convertErrors", c.convertErrors())
                .field("bytesUpstream", c.bytesUpstream())
                .field("bytesDownstream", c.bytesDownstream())
                .endObject();
        if (s.sessions() != null) {
            ApplianceStatus.Sessions x = s.sessions();
            w.name("sessions").beginObject()
                    .field("sessions", x.sessions())
                    .field("established", x.established())
                    .field("streams", x.streams())
                    .field("reorderBufferBytes", x.reorderBufferBytes())
                    .field("overflowBudgetUsedBytes", x.overflowBudgetUsedBytes())
                    .endObject();
        }
        w.name("uplinks").beginArray();
        for (ApplianceStatus.Uplink u : s.uplinks()) {
            w.beginObject()
                    .field("name", u.name())
                    .field("interface", u.interfaceName())
                    .field("address", u.address())
                    .field("configuredRole", u.configuredRole())
                    .field("adminState", u.adminState())
                    .field("usable", u.usable())
                    .field("usableDetail", u.usableDetail())
                    .field("subflows", u.subflows())
                    .field("srttSeconds", u.srttSeconds())
                    .field("cwndSegments", u.cwndSegments())
                    .field("bytesSent", u.bytesSent())
                    .field("bytesReceived", u.bytesReceived())
                    .field("bytesRetransmitted", u.bytesRetransmitted())
                    .field("subflowsOpened", u.subflowsOpened())
                    .field("subflowsClosed", u.subflowsClosed())
                    .field("joinFailures", u.joinFailures())
                    .field("failovers", u.failovers())
                    .endObject();
        }
        w.endArray();
        w.name("subflows").beginArray();
        for (ApplianceStatus.Subflow f : s.subflows()) {
            w.beginObject()
                    .field("uplink", f.uplink())
                    .field("connection", f.connection())
                    .field("subflowId", f.subflowId())
                    .field("state", f.state())
                    .field("srttSeconds", f.srttSeconds())
                    .field("cwndSegments", f.cwndSegments())
                    .field("bytesSent", f.bytesSent())
                    .field("bytesReceived", f.bytesReceived())
                    .field("bytesRetransmitted", f.bytesRetransmitted())
                    .endObject();
        }
        w.endArray();
        w.field("subflowsOmitted", s.subflowsOmitted());
        w.name("recentFailovers").beginArray();
        for (ApplianceStatus.Failover f : s.recentFailovers()) {
            w.beginObject()
                    .field("atMillis", f.atMillis())
                    .field("uplink", f.uplink())
                    .field("reason", f.reason())
                    .field("remainingSubflows", f.remainingSubflows())
                    .endObject();
        }
        w.endArray();
        return w.endObject().toString();
    }

    static String readiness(Readiness r) {
        JsonWriter w = new JsonWriter().beginObject().field("ready", r.ready()).name("checks").beginArray();
        for (Readiness.Check c : r.checks()) {
            w.beginObject().field("name", c.name()).field("ok", c.ok()).field("detail", c.detail()).endObject();
        }
        return w.endArray().endObject().toString();
    }

    static String reload(ConfigReload.Result r) {
        JsonWriter w = new JsonWriter().beginObject().name("applied");
        strings(w, r.applied());
        w.name("needsRestart");
        strings(w, r.needsRestart());
        return w.endObject().toString();
    }

    static String message(String key, String text) {
        return new JsonWriter().beginObject().field(key, text).endObject().toString();
    }

    private static void strings(JsonWriter w, List<String> values) {
        w.beginArray();
        values.forEach(w::value);
        w.endArray();
    }
}
