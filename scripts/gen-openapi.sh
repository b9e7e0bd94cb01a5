#!/usr/bin/env bash
# Generates api/openapi/zz_generated.openapi.go with k8s.io/kube-openapi's
# openapi-gen, at the kube-openapi version already in corral's module graph.
#
# `go run <pkg>@<version>` builds the generator in its own module context, so
# this script never changes go.mod or go.sum. The generator itself loads the
# input packages (k8s.io/api, k8s.io/apimachinery) from corral's module, i.e.
# at the versions corral builds with.
#
# Usage: scripts/gen-openapi.sh
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"

OUT_DIR="api/openapi"
OUT_PKG="corral/api/openapi"
OUT_FILE="zz_generated.openapi.go"
# openapi-gen fails on API rule violations unless they go to a report file;
# with a file named here it records them and carries on.
REPORT="${OUT_DIR}/api_violations.report"

KUBE_OPENAPI_VERSION="$(go list -m -f '{{.Version}}' k8s.io/kube-openapi)"
if [[ -z "${KUBE_OPENAPI_VERSION}" ]]; then
  echo "gen-openapi: k8s.io/kube-openapi is not in the module graph" >&2
  exit 1
fi

INPUTS=(
  k8s.io/apimachinery/pkg/apis/meta/v1
  k8s.io/apimachinery/pkg/runtime
  k8s.io/apimachinery/pkg/version
  k8s.io/apimachinery/pkg/util/intstr
  k8s.io/apimachinery/pkg/api/resource
  k8s.io/api/core/v1
  k8s.io/api/apps/v1
  k8s.io/api/batch/v1
  k8s.io/api/coordination/v1
  k8s.io/api/discovery/v1
  k8s.io/api/networking/v1
  k8s.io/api/autoscaling/v1
  k8s.io/api/autoscaling/v2
  k8s.io/api/policy/v1
  k8s.io/api/rbac/v1
  k8s.io/api/scheduling/v1
  # batch/v1 JobSpec refers to the scheduling/v1alpha3 workload types.
  k8s.io/api/scheduling/v1alpha3
  k8s.io/api/storage/v1
  k8s.io/api/events/v1
  k8s.io/api/authorization/v1
  k8s.io/api/authentication/v1
  # metrics.k8s.io, served from the node agents' stats (apiserver/metrics*.go).
  k8s.io/metrics/pkg/apis/metrics/v1beta1
)

mkdir -p "${OUT_DIR}"
rm -f "${OUT_DIR}/${OUT_FILE}"

echo "gen-openapi: k8s.io/kube-openapi/cmd/openapi-gen@${KUBE_OPENAPI_VERSION}"
go run "k8s.io/kube-openapi/cmd/openapi-gen@${KUBE_OPENAPI_VERSION}" \
  --go-header-file "${ROOT}/scripts/boilerplate.go.txt" \
  --output-dir "${OUT_DIR}" \
  --output-pkg "${OUT_PKG}" \
  --output-file "${OUT_FILE}" \
  --report-filename "${REPORT}" \
  "${INPUTS[@]}"

n="$(grep -c . "${REPORT}" 2>/dev/null || true)"
echo "gen-openapi: wrote ${OUT_DIR}/${OUT_FILE} (${n:-0} API rule violations listed in ${REPORT})"
