{{- define "hybridproxy.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hybridproxy.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/component: {{ .Values.role }}
{{- end -}}

{{- define "hybridproxy.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ .Values.role }}
{{- end -}}

{{- define "hybridproxy.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* A HOCON list of quoted strings. */}}
{{- define "hybridproxy.hoconList" -}}
[{{- range $i, $v := . -}}{{ if $i }}, {{ end }}{{ $v | toString | quote }}{{- end -}}]
{{- end -}}

{{/* Environment every hybridproxy container gets: the admin token from its Secret, the JVM options. */}}
{{- define "hybridproxy.env" -}}
- name: HYBRIDPROXY_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.admin.tokenSecret.name }}
      key: {{ .Values.admin.tokenSecret.key }}
- name: JAVA_OPTS
  value: {{ .Values.javaOpts | quote }}
{{- end -}}

{{/* Health probes on the admin port: /health/* need no token, the rest of the admin API does. */}}
{{- define "hybridproxy.probes" -}}
livenessProbe:
  httpGet: { path: /health/live, port: admin }
  initialDelaySeconds: 10
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /health/ready, port: admin }
  periodSeconds: 5
  failureThreshold: 2
{{- end -}}

{{/* The admin block of hybridproxy.conf: all interfaces (probes and Prometheus reach it), token from the Secret. */}}
{{- define "hybridproxy.adminConf" -}}
admin {
  bind = "0.0.0.0:{{ .Values.admin.port }}"
  token = ${HYBRIDPROXY_ADMIN_TOKEN}
}
{{- end -}}
