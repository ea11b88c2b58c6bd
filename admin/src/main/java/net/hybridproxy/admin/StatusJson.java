package net.hybridproxy.admin;

import com.fasterxml.jackson.core.JsonGenerator;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The JSON forms of the admin API's answers; field names are the API's contract (see the docs). */
final class StatusJson {
    private StatusJson() {
    }

    static String status(ApplianceStatus s, List<UplinkHistory.Series> history) {
        return AdminJson.write(w -> {
            w.writeStartObject();
            w.writeStringField("role", s.role());
            w.writeStringField("engine", s.engine());
            w.writeStringField("transport", s.transport());
            w.writeNumberField("uptimeSeconds", s.uptimeSeconds());
            w.writeNumberField("sampledAtMillis", s.sampledAtMillis());
            ApplianceStatus.Connections c = s.connections();
            w.writeObjectFieldStart("connections");
            w.writeNumberField("active", c.active());
            w.writeNumberField("max", c.max());
            w.writeNumberField("total", c.total());
            w.writeNumberField("refused", c.refused());
            w.writeNumberField("mptcpFallbacks", c.mptcpFallbacks());
            w.writeNumberField("authFailures", c.authFailures());
            w.writeNumberField("convertErrors", c.convertErrors());
            w.writeNumberField("bytesUpstream", c.bytesUpstream());
            w.writeNumberField("bytesDownstream", c.bytesDownstream());
            w.writeEndObject();
            if (s.sessions() != null) {
                ApplianceStatus.SessionsStatusView x = s.sessions();
                w.writeObjectFieldStart("sessions");
                w.writeNumberField("sessions", x.sessions());
                w.writeNumberField("established", x.established());
                w.writeNumberField("streams", x.streams());
                w.writeNumberField("reorderBufferBytes", x.reorderBufferBytes());
                w.writeNumberField("overflowBudgetUsedBytes", x.overflowBudgetUsedBytes());
                w.writeEndObject();
            }
            if (!s.concentrators().isEmpty()) {
                w.writeArrayFieldStart("concentrators");
                for (ApplianceStatus.ConcentratorHealth h : s.concentrators()) {
                    w.writeStartObject();
                    w.writeStringField("name", h.name());
                    w.writeStringField("address", h.address());
                    w.writeBooleanField("up", h.up());
                    w.writeBooleanField("active", h.active());
                    w.writeStringField("lastFailure", h.lastFailure());
                    w.writeEndObject();
                }
                w.writeEndArray();
            }
            w.writeArrayFieldStart("uplinks");
            for (ApplianceStatus.UplinkStatusView u : s.uplinks()) {
                w.writeStartObject();
                w.writeStringField("name", u.name());
                w.writeStringField("interface", u.interfaceName());
                w.writeStringField("address", u.address());
                w.writeStringField("configuredRole", u.configuredRole());
                w.writeStringField("adminState", u.adminState());
                w.writeBooleanField("usable", u.usable());
                w.writeStringField("usableDetail", u.usableDetail());
                w.writeNumberField("subflows", u.subflows());
                AdminJson.number(w, "srttSeconds", u.srttSeconds());
                AdminJson.number(w, "cwndSegments", u.cwndSegments());
                w.writeNumberField("bytesSent", u.bytesSent());
                w.writeNumberField("bytesReceived", u.bytesReceived());
                w.writeNumberField("bytesRetransmitted", u.bytesRetransmitted());
                w.writeNumberField("subflowsOpened", u.subflowsOpened());
                w.writeNumberField("subflowsClosed", u.subflowsClosed());
                w.writeNumberField("joinFailures", u.joinFailures());
                w.writeNumberField("failovers", u.failovers());
                w.writeNumberField("mptcpFallbacks", u.mptcpFallbacks());
                UplinkHistory.Series window = history.stream().filter(h -> h.uplink().equals(u.name())).findFirst()
                        .orElse(null);
                w.writeBooleanField("mptcpImpaired", window != null && window.mptcpImpaired());
                w.writeStringField("mptcpDetail", window == null ? "" : window.mptcpDetail());
                w.writeEndObject();
            }
            w.writeEndArray();
            w.writeArrayFieldStart("subflows");
            for (ApplianceStatus.SubflowStatusView f : s.subflows()) {
                w.writeStartObject();
                w.writeStringField("uplink", f.uplink());
                w.writeNumberField("connection", f.connection());
                w.writeNumberField("subflowId", f.subflowId());
                w.writeStringField("state", f.state());
                AdminJson.number(w, "srttSeconds", f.srttSeconds());
                w.writeNumberField("cwndSegments", f.cwndSegments());
                w.writeNumberField("bytesSent", f.bytesSent());
                w.writeNumberField("bytesReceived", f.bytesReceived());
                w.writeNumberField("bytesRetransmitted", f.bytesRetransmitted());
                w.writeEndObject();
            }
            w.writeEndArray();
            w.writeNumberField("subflowsOmitted", s.subflowsOmitted());
            w.writeArrayFieldStart("cpes");
            for (ApplianceStatus.CpeStatusView cpe : s.cpes()) {
                w.writeStartObject();
                w.writeStringField("id", cpe.id());
                w.writeStringField("identifiedBy", cpe.identifiedBy());
                w.writeNumberField("sessions", cpe.sessions());
                w.writeNumberField("connections", cpe.connections());
                w.writeNumberField("connectionsTotal", cpe.connectionsTotal());
                w.writeNumberField("bytesUpstream", cpe.bytesUpstream());
                w.writeNumberField("bytesDownstream", cpe.bytesDownstream());
                w.writeObjectFieldStart("subflowsByUplink");
                for (Map.Entry<String, Integer> e : new TreeMap<>(cpe.subflowsByUplink()).entrySet()) {
                    w.writeNumberField(e.getKey(), e.getValue());
                }
                w.writeEndObject();
                w.writeEndObject();
            }
            w.writeEndArray();
            w.writeObjectFieldStart("history");
            w.writeNumberField("intervalSeconds", UplinkHistory.INTERVAL_MILLIS / 1000);
            w.writeArrayFieldStart("uplinks");
            for (UplinkHistory.Series h : history) {
                w.writeStartObject();
                w.writeStringField("name", h.uplink());
                w.writeArrayFieldStart("atMillis");
                for (long at : h.atMillis()) {
                    w.writeNumber(at);
                }
                w.writeEndArray();
                numbers(w, "sentBitsPerSecond", h.sentBitsPerSecond());
                numbers(w, "receivedBitsPerSecond", h.receivedBitsPerSecond());
                w.writeEndObject();
            }
            w.writeEndArray();
            w.writeEndObject();
            w.writeArrayFieldStart("recentFailovers");
            for (ApplianceStatus.Failover f : s.recentFailovers()) {
                w.writeStartObject();
                w.writeNumberField("atMillis", f.atMillis());
                w.writeStringField("uplink", f.uplink());
                w.writeStringField("reason", f.reason());
                w.writeNumberField("remainingSubflows", f.remainingSubflows());
                w.writeEndObject();
            }
            w.writeEndArray();
            w.writeEndObject();
        });
    }

    static String readiness(Readiness r) {
        return AdminJson.write(w -> {
            w.writeStartObject();
            w.writeBooleanField("ready", r.ready());
            w.writeArrayFieldStart("checks");
            for (Readiness.Condition c : r.checks()) {
                w.writeStartObject();
                w.writeStringField("name", c.name());
                w.writeBooleanField("ok", c.ok());
                w.writeStringField("detail", c.detail());
                w.writeEndObject();
            }
            w.writeEndArray();
            w.writeEndObject();
        });
    }

    static String reload(ConfigReload.ReloadResult r) {
        return AdminJson.write(w -> {
            w.writeStartObject();
            strings(w, "applied", r.applied());
            strings(w, "needsRestart", r.needsRestart());
            w.writeEndObject();
        });
    }

    static String uplinkAction(String uplink, UplinkAction action, String result) {
        return AdminJson.write(w -> {
            w.writeStartObject();
            w.writeStringField("uplink", uplink);
            w.writeStringField("action", action.pathSegment());
            w.writeStringField("result", result);
            w.writeEndObject();
        });
    }

    static String message(String key, String text) {
        return AdminJson.write(w -> {
            w.writeStartObject();
            w.writeStringField(key, text);
            w.writeEndObject();
        });
    }

    private static void numbers(JsonGenerator w, String name, List<Double> values) throws IOException {
        w.writeArrayFieldStart(name);
        for (double value : values) {
            w.writeNumber(Math.round(value));
        }
        w.writeEndArray();
    }

    private static void strings(JsonGenerator w, String name, List<String> values) throws IOException {
        w.writeArrayFieldStart(name);
        for (String value : values) {
            w.writeString(value);
        }
        w.writeEndArray();
    }
}
