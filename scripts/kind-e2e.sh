#!/usr/bin/env bash
# End-to-end on kind, for machines with a Docker engine: create a kind cluster, build the
# images and load them into it, deploy a PostgreSQL, then run the chart install test
# (tests/cluster/chart/test_chart_install.py, the same test that runs on the dev control plane)
# against it: helm install, operator and gateway Ready, a connection gets its pod, an agent's
# tools/call round-trips, helm upgrade keeps the keys, helm uninstall leaves only what the
# documented policy keeps.
#
#   scripts/kind-e2e.sh                 create cluster "mcpod-e2e", run, delete the cluster
#   MCPOD_KIND_KEEP=1 scripts/kind-e2e.sh   keep the cluster (re-runs reuse it)
#
# Without a Docker engine it prints why it is skipped and exits 0.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cluster="${MCPOD_KIND_CLUSTER:-mcpod-e2e}"
kind_version="v0.33.0"
tag="e2e"
cache="${MCPOD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcpod}"

if ! command -v docker >/dev/null 2>&1; then
  echo "kind-e2e: SKIPPED: no docker command on this machine (kind runs Kubernetes nodes as Docker containers); the same test runs on the dev control plane: python3 -m pytest tests/cluster/chart"
  exit 0
fi
if ! docker info >/dev/null 2>&1; then
  echo "kind-e2e: SKIPPED: docker is installed but no Docker engine answers ('docker info' failed)"
  exit 0
fi
t0=$(date +%s)

# kind and helm, built from Go modules and cached (pinned versions).
kind="$cache/kind/$kind_version/kind"
if [[ ! -x "$kind" ]]; then
  mkdir -p "$(dirname "$kind")"
  GOBIN="$(dirname "$kind")" CGO_ENABLED=0 go install "sigs.k8s.io/kind@$kind_version"
fi
helm="$("$root/tools/helm/build.sh" | tail -1)"
helm="${helm##* at }"
command -v kubectl >/dev/null || { echo "kind-e2e: kubectl is missing (scripts/setup.sh test installs it)" >&2; exit 1; }

if ! "$kind" get clusters 2>/dev/null | grep -qx "$cluster"; then
  "$kind" create cluster --name "$cluster" --wait 180s
fi
kubeconfig="$(mktemp)"
"$kind" get kubeconfig --name "$cluster" > "$kubeconfig"
export KUBECONFIG="$kubeconfig"
cleanup() {
  rm -f "$kubeconfig" "${values:-}"
  if [[ -z "${MCPOD_KIND_KEEP:-}" ]]; then "$kind" delete cluster --name "$cluster"; fi
}
trap cleanup EXIT

# The images. The connection image under test runs the fake upstream (Azure DevOps cannot be
# reached from a test): the real connection image plus the fake, at the tag the operator uses.
for f in Dockerfile.operator Dockerfile.gateway Dockerfile.connection; do
  [[ -f "$f" ]] || { echo "kind-e2e: $f is missing" >&2; exit 1; }
done
server_version="$(awk '/^  serverVersion:/ {gsub(/"/, "", $2); print $2}' charts/mcpod/values.yaml)"
docker build -f Dockerfile.operator -t "mcpod/operator:$tag" .
docker build -f Dockerfile.gateway -t "mcpod/gateway:$tag" .
docker build -f Dockerfile.connection --build-arg MCPOD_SERVER_VERSION="$server_version" \
  -t "mcpod/connection:$server_version" .
docker build -t mcpod/connection:0.0.0-fake -f - . <<EOF
FROM mcpod/connection:$server_version
COPY tests/fakes/fake_upstream.py /opt/mcpod/fake_upstream.py
ENV MCPOD_UPSTREAM_COMMAND="python3 /opt/mcpod/fake_upstream.py"
EOF
"$kind" load docker-image --name "$cluster" \
  "mcpod/operator:$tag" "mcpod/gateway:$tag" mcpod/connection:0.0.0-fake

# The CRD, as an admin applies it (Helm skips an existing CRD; a kept cluster gets updates).
kubectl apply --server-side --force-conflicts -f crds/

# PostgreSQL for the gateway (in production: CloudNativePG, see charts/mcpod/README.md).
db_password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
kubectl create namespace mcpod-e2e-db --dry-run=client -o yaml | kubectl apply -f -
kubectl -n mcpod-e2e-db apply -f - <<EOF
apiVersion: v1
kind: Secret
metadata: {name: pg}
stringData: {password: "$db_password"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: pg}
spec:
  replicas: 1
  selector: {matchLabels: {app: pg}}
  template:
    metadata: {labels: {app: pg}}
    spec:
      containers:
        - name: postgres
          image: postgres:17.6-bookworm
          env:
            - {name: POSTGRES_USER, value: mcpod}
            - {name: POSTGRES_DB, value: mcpod}
            - name: POSTGRES_PASSWORD
              valueFrom: {secretKeyRef: {name: pg, key: password}}
          ports: [{containerPort: 5432}]
          readinessProbe:
            exec: {command: [pg_isready, -U, mcpod]}
            periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata: {name: pg}
spec:
  selector: {app: pg}
  ports: [{port: 5432}]
EOF
kubectl -n mcpod-e2e-db rollout restart deploy/pg >/dev/null  # pick up a new password on reuse
kubectl -n mcpod-e2e-db rollout status deploy/pg --timeout=180s

values="$(mktemp --suffix=.yaml)"
cat > "$values" <<EOF
image: {tag: $tag, pullPolicy: Never}
operator: {serverVersion: 0.0.0-fake}
EOF

export MCPOD_E2E_KUBECONFIG="$kubeconfig"
export MCPOD_E2E_VALUES="$values"
export MCPOD_E2E_DATABASE_URL="postgresql+asyncpg://mcpod:${db_password}@pg.mcpod-e2e-db.svc.cluster.local:5432/mcpod"
status=0
python3 -m pytest tests/cluster/chart/test_chart_install.py -p no:cacheprovider || status=$?
echo "kind-e2e: done in $(( $(date +%s) - t0 ))s (exit $status)"
exit "$status"
