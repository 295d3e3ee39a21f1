{{/* Names and labels */}}
{{- define "mail-intake.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mail-intake.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one service: call with (dict "root" $ "name" "intake") */}}
{{- define "mail-intake.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "mail-intake.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* Partitions of a topic: an exact-name override, else the "*" override, else topics.partitions */}}
{{- define "mail-intake.partitions" -}}
{{- $topics := .root.Values.topics -}}
{{- $exact := get $topics.overrides .topic | default dict -}}
{{- $all := get $topics.overrides "*" | default dict -}}
{{- $exact.partitions | default $all.partitions | default $topics.partitions -}}
{{- end -}}

{{- define "mail-intake.tlsUsed" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") }}true{{ end -}}
{{- end -}}
{{- define "mail-intake.saslUsed" -}}
{{- if has .Values.kafka.securityProtocol (list "SASL_PLAINTEXT" "SASL_SSL") }}true{{ end -}}
{{- end -}}

{{/* Checks that fail the render with a message naming the value */}}
{{- define "mail-intake.checks" -}}
{{- if not (has .Values.kafka.securityProtocol (list "PLAINTEXT" "SSL" "SASL_PLAINTEXT" "SASL_SSL")) -}}
{{- fail "kafka.securityProtocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL" -}}
{{- end -}}
{{- if include "mail-intake.saslUsed" . -}}
{{- if not .Values.kafka.sasl.username -}}{{- fail "kafka.sasl.username is required with SASL" -}}{{- end -}}
{{- if not .Values.kafka.sasl.existingSecret -}}{{- fail "kafka.sasl.existingSecret (the Secret holding the SASL password) is required with SASL" -}}{{- end -}}
{{- end -}}
{{- if and (include "mail-intake.tlsUsed" .) (not .Values.kafka.tls.existingSecret) -}}
{{- fail "kafka.tls.existingSecret (the Secret holding the CA) is required with SSL and SASL_SSL" -}}
{{- end -}}
{{- if not (has .Values.blobStore.type (list "postgres" "s3")) -}}
{{- fail "blobStore.type must be postgres or s3" -}}
{{- end -}}
{{- if and (eq .Values.blobStore.type "s3") (not .Values.blobStore.s3.existingSecret) -}}
{{- fail "blobStore.s3.existingSecret (the Secret holding the S3 credentials) is required with blobStore.type=s3" -}}
{{- end -}}
{{- if and (eq .Values.blobStore.type "s3") (not .Values.blobStore.s3.endpointUrl) -}}
{{- fail "blobStore.s3.endpointUrl is required with blobStore.type=s3" -}}
{{- end -}}
{{- end -}}

{{/* The environment every container gets (services and the migration Job) */}}
{{- define "mail-intake.env" -}}
- name: MAILINTAKE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.databaseUrlKey }}
- name: MAILINTAKE_BOOTSTRAP_ADMIN_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.adminKeyKey }}
- name: MAILINTAKE_HOST
  value: "0.0.0.0"
- name: MAILINTAKE_LOG_LEVEL
  value: {{ .Values.log.level | quote }}
- name: MAILINTAKE_LOG_JSON
  value: {{ .Values.log.json | quote }}
- name: OMP_THREAD_LIMIT
  value: "1"
- name: MAILINTAKE_KAFKA_BOOTSTRAP
  value: {{ .Values.kafka.bootstrap | quote }}
- name: MAILINTAKE_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- if include "mail-intake.saslUsed" . }}
- name: MAILINTAKE_KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.sasl.mechanism | quote }}
- name: MAILINTAKE_KAFKA_SASL_USERNAME
  value: {{ .Values.kafka.sasl.username | quote }}
- name: MAILINTAKE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.existingSecret }}
      key: {{ .Values.kafka.sasl.passwordKey }}
{{- end }}
{{- if include "mail-intake.tlsUsed" . }}
- name: MAILINTAKE_KAFKA_SSL_CAFILE
  value: {{ printf "%s/%s" .Values.kafka.tls.mountPath .Values.kafka.tls.caKey | quote }}
{{- if and .Values.kafka.tls.certKey .Values.kafka.tls.keyKey }}
- name: MAILINTAKE_KAFKA_SSL_CERTFILE
  value: {{ printf "%s/%s" .Values.kafka.tls.mountPath .Values.kafka.tls.certKey | quote }}
- name: MAILINTAKE_KAFKA_SSL_KEYFILE
  value: {{ printf "%s/%s" .Values.kafka.tls.mountPath .Values.kafka.tls.keyKey | quote }}
{{- end }}
- name: MAILINTAKE_KAFKA_SSL_CHECK_HOSTNAME
  value: {{ .Values.kafka.tls.checkHostname | quote }}
{{- end }}
- name: MAILINTAKE_TOPIC_PARTITIONS
  value: {{ .Values.topics.partitions | quote }}
- name: MAILINTAKE_TOPIC_REPLICATION_FACTOR
  value: {{ .Values.topics.replicationFactor | quote }}
- name: MAILINTAKE_DLQ_RETENTION_MS
  value: {{ .Values.topics.dlqRetentionMs | int64 | quote }}
{{- if .Values.topics.overrides }}
- name: MAILINTAKE_TOPIC_OVERRIDES
  value: {{ .Values.topics.overrides | toJson | quote }}
{{- end }}
- name: MAILINTAKE_BLOB_STORE
  value: {{ .Values.blobStore.type | quote }}
{{- if eq .Values.blobStore.type "s3" }}
- name: MAILINTAKE_S3_ENDPOINT_URL
  value: {{ .Values.blobStore.s3.endpointUrl | quote }}
- name: MAILINTAKE_S3_BUCKET
  value: {{ .Values.blobStore.s3.bucket | quote }}
- name: MAILINTAKE_S3_REGION
  value: {{ .Values.blobStore.s3.region | quote }}
- name: MAILINTAKE_S3_PREFIX
  value: {{ .Values.blobStore.s3.prefix | quote }}
- name: MAILINTAKE_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.blobStore.s3.existingSecret }}
      key: {{ .Values.blobStore.s3.accessKeyIdKey }}
- name: MAILINTAKE_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.blobStore.s3.existingSecret }}
      key: {{ .Values.blobStore.s3.secretAccessKeyKey }}
{{- end }}
{{- range $name, $svc := .Values.services }}
- name: {{ printf "MAILINTAKE_%s_PORT" (upper $name) }}
  value: {{ $svc.port | quote }}
{{- end }}
{{- range $key, $value := .Values.env }}
- name: {{ printf "MAILINTAKE_%s" (upper $key | trimPrefix "MAILINTAKE_") }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Volumes every container mounts: a writable /tmp (the root filesystem is read-only) and the Kafka TLS Secret */}}
{{- define "mail-intake.volumes" -}}
- name: tmp
  emptyDir: {}
{{- if include "mail-intake.tlsUsed" . }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "mail-intake.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if include "mail-intake.tlsUsed" . }}
- name: kafka-tls
  mountPath: {{ .Values.kafka.tls.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "mail-intake.serviceMonitorOn" -}}
{{- $mode := toString .Values.serviceMonitor.enabled -}}
{{- if or (eq $mode "true") (and (eq $mode "auto") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) }}true{{ end -}}
{{- end -}}
