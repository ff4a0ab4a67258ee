#!/usr/bin/env bash
# The demo: an rdiag-agent on 127.0.0.1 with a throwaway state dir and a fresh
# engineer key, a console that adds it as a site, `rdiag info`, a recorded
# session request, a clean stop, and the customer's records commands.
# Installs what it needs (Debian 12) and builds first.
#   scripts/demo.sh            # English
#   LANG=zh_CN.UTF-8 scripts/demo.sh   # 中文
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh
scripts/build.sh ci >/dev/null
bin="$root/build/ci"
agent="$bin/agent/rdiag-agent"
rdiag="$bin/console/rdiag"

work=$(mktemp -d /tmp/rdiag-demo-XXXXXX)
agent_pid=""
cleanup() {
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
    kill -TERM "$agent_pid"; wait "$agent_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Headings follow the same language choice as the programs (LANG, LC_ALL).
zh=false
case "${LC_ALL:-${LC_MESSAGES:-${LANG:-}}}" in zh*) zh=true ;; esac
step() {
  local text="$1"; $zh && text="$2"
  if [ -t 1 ]; then printf '\n\033[1m== %s\033[0m\n' "$text"; else printf '\n== %s\n' "$text"; fi
}

step "1. An engineer key (the vendor side)" "1. 工程师密钥（厂商侧）"
ssh-keygen -q -t ed25519 -N '' -C "demo engineer" -f "$work/engineer_ed25519"
ssh-keygen -l -f "$work/engineer_ed25519.pub"

step "2. The customer's IT enrols that key in the agent's engineers file" "2. 客户 IT 将该密钥登记到代理的工程师文件"
mkdir -p "$work/etc"
printf 'rdiag-name="李伟",rdiag-role="engineer",rdiag-id="E1024" %s\n' \
  "$(cat "$work/engineer_ed25519.pub")" > "$work/etc/engineers"
cat > "$work/etc/agent.json" <<JSON
{ "state_dir": "$work/state", "engineers_file": "$work/etc/engineers",
  "allow_from": ["127.0.0.0/8"] }
JSON
cat "$work/etc/engineers"

step "3. Start rdiag-agent on 127.0.0.1 (port chosen by the kernel)" "3. 在 127.0.0.1 上启动 rdiag-agent（端口由内核分配）"
"$agent" --config "$work/etc/agent.json" run --listen 127.0.0.1:0 \
  > "$work/agent.out" 2> "$work/agent.log" &
agent_pid=$!
for _ in $(seq 1 100); do grep -q '^listening on' "$work/agent.out" 2>/dev/null && break; sleep 0.1; done
grep '^listening on' "$work/agent.out" || { cat "$work/agent.log"; exit 1; }
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/agent.out")
echo "host key: $("$agent" --state-dir "$work/state" fingerprint)"
echo "seal key: $("$agent" --state-dir "$work/state" fingerprint --seal)"

step "4. The engineer adds the customer as a site and asks the agent who it is" "4. 工程师添加客户站点并查询代理信息"
"$rdiag" --data-dir "$work/console" sites add acme-erp "127.0.0.1:$port" --tag demo
"$rdiag" --data-dir "$work/console" sites list
# --accept-new pins both fingerprints shown above on first contact.
"$rdiag" --data-dir "$work/console" --key "$work/engineer_ed25519" --accept-new info acme-erp

step "5. The engineer asks for a session (stock OpenSSH client; recorded before it is answered)" "5. 工程师申请会话（使用标准 OpenSSH 客户端；先记录后应答）"
# The console's own `rdiag request` arrives with the consent flow; any SSH
# client can speak rdiag-v1: one JSON-RPC request per line.
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"session.request","params":{"ticket":"ERP-2026-1128","reason":"月结过账失败，需要诊断","scopes":["diagnose"],"minutes":60}}' |
  ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$work/console/known_hosts" -o HostKeyAlias="[127.0.0.1]:$port" \
    -i "$work/engineer_ed25519" -p "$port" -s engineer@127.0.0.1 rdiag-v1

step "6. Stop the agent cleanly (SIGTERM)" "6. 正常停止代理（SIGTERM）"
kill -TERM "$agent_pid"; wait "$agent_pid"; echo "exit status: $?"
agent_pid=""
echo; echo "---- agent log ----"; cat "$work/agent.log"

step "7. Customer IT reads and verifies the service records" "7. 客户 IT 查看并校验服务记录"
"$agent" --config "$work/etc/agent.json" records list
"$agent" --config "$work/etc/agent.json" records verify --all
"$agent" --config "$work/etc/agent.json" records export --format csv
