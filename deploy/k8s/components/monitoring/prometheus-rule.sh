#!/bin/sh
# kustomize exec function: print a ResourceList holding the PrometheusRule "sentiment-alerts" whose spec is
# deploy/prometheus/alerts.yml as it stands (one source of rules, never a copy). The rules file is a block
# mapping with no document markers, so indenting each line nests it under "spec:" unchanged.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
rules="$here/../../../prometheus/alerts.yml"
[ -r "$rules" ] || { echo "prometheus-rule.sh: cannot read $rules" >&2; exit 1; }
cat >/dev/null   # the function's input (its own configuration) says nothing more
cat <<YAML
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
  - apiVersion: monitoring.coreos.com/v1
    kind: PrometheusRule
    metadata:
      name: sentiment-alerts
    spec:
YAML
sed 's/^/      /' "$rules"
