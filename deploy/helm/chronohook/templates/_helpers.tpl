{{- define "chronohook.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "chronohook.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "chronohook.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "chronohook.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "chronohook.fullname" .)) -}}
{{- end -}}

{{- define "chronohook.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "chronohook.caSecretName" -}}
{{- .Values.kafka.caSecret | default (printf "%s-kafka-ca" (include "chronohook.fullname" .)) -}}
{{- end -}}

{{/* Settings every container gets: the ConfigMap, the secrets by key, the fixed paths. */}}
{{- define "chronohook.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "chronohook.fullname" . }}-settings
env:
  - name: CHRONOHOOK_DATABASE_URL
    valueFrom:
      secretKeyRef:
        name: {{ include "chronohook.secretName" . }}
        key: CHRONOHOOK_DATABASE_URL
  - name: CHRONOHOOK_SECRET_KEY
    valueFrom:
      secretKeyRef:
        name: {{ include "chronohook.secretName" . }}
        key: CHRONOHOOK_SECRET_KEY
  - name: CHRONOHOOK_SECRET_KEYS_RETIRED
    valueFrom:
      secretKeyRef:
        name: {{ include "chronohook.secretName" . }}
        key: CHRONOHOOK_SECRET_KEYS_RETIRED
        optional: true
  - name: CHRONOHOOK_KAFKA_SASL_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "chronohook.secretName" . }}
        key: CHRONOHOOK_KAFKA_SASL_PASSWORD
        optional: true
  - name: CHRONOHOOK_DATA_DIR
    value: /data
  {{- if or .Values.kafka.caCert .Values.kafka.caSecret }}
  - name: CHRONOHOOK_KAFKA_SSL_CA_LOCATION
    value: /etc/chronohook/kafka/ca.pem
  {{- end }}
{{- end -}}

{{- define "chronohook.volumeMounts" -}}
volumeMounts:
  - name: data
    mountPath: /data
  - name: tmp
    mountPath: /tmp
  {{- if or .Values.kafka.caCert .Values.kafka.caSecret }}
  - name: kafka-ca
    mountPath: /etc/chronohook/kafka
    readOnly: true
  {{- end }}
{{- end -}}

{{- define "chronohook.volumes" -}}
volumes:
  - name: data
    {{- if .dataSizeLimit }}
    emptyDir:
      sizeLimit: {{ .dataSizeLimit }}
    {{- else }}
    emptyDir: {}
    {{- end }}
  - name: tmp
    emptyDir:
      medium: Memory
      sizeLimit: 64Mi
  {{- if or .root.Values.kafka.caCert .root.Values.kafka.caSecret }}
  - name: kafka-ca
    secret:
      secretName: {{ include "chronohook.caSecretName" .root }}
      items:
        - key: ca.pem
          path: ca.pem
  {{- end }}
{{- end -}}

{{/* The pod spec of one service: .root (the chart's context), .component, .values (the service's block). */}}
{{- define "chronohook.podTemplate" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "chronohook.selectorLabels" (dict "root" $root "component" .component) | nindent 4 }}
  annotations:
    # A changed setting or secret rolls the pods.
    checksum/settings: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    checksum/secrets: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
    {{- with $root.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  automountServiceAccountToken: false
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  # Services stop on SIGTERM: the timer aborts its open transaction, the executor finishes or hands back.
  terminationGracePeriodSeconds: 60
  containers:
    - name: {{ .component }}
      image: {{ printf "%s:%s" $root.Values.image.repository (.values.imageTag | default $root.Values.image.tag | default $root.Chart.AppVersion) }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args: ["serve", {{ .component | quote }}]
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      {{- include "chronohook.env" $root | nindent 6 }}
      {{- if eq .component "ingest" }}
        - name: CHRONOHOOK_API_HOST
          value: "0.0.0.0"
        - name: CHRONOHOOK_API_PORT
          value: {{ .values.port | quote }}
      ports:
        - name: http
          containerPort: {{ .values.port }}
          protocol: TCP
      startupProbe:
        httpGet: {path: /healthz, port: http}
        periodSeconds: 2
        failureThreshold: 60
      livenessProbe:
        httpGet: {path: /healthz, port: http}
        periodSeconds: 10
        timeoutSeconds: 3
        failureThreshold: 3
      readinessProbe:
        httpGet: {path: /readyz, port: http}
        periodSeconds: 5
        timeoutSeconds: 3
        failureThreshold: 2
      {{- end }}
      resources:
        {{- toYaml .values.resources | nindent 8 }}
      {{- include "chronohook.volumeMounts" $root | nindent 6 }}
  {{- include "chronohook.volumes" (dict "root" $root "dataSizeLimit" .values.dataSizeLimit) | nindent 2 }}
  {{- with $root.Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
