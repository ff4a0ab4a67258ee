#!/usr/bin/env bash
# The demo: an rdiag-agent on 127.0.0.1 with a throwaway state dir and a fresh
# engineer key, a console that adds it as a site, `rdiag info`, a session
# request that the customer's IT approves with the local admin CLI, the
# granted session diagnosed (`rdiag diag`) and closed with cause and
# solution, a clean stop, and the
# customer's records commands.
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
# The shipped plugins, installed as a package would: the agent refuses plugin
# files that others may write (as sshd's StrictModes), whatever the checkout's umask.
mkdir -p "$work/plugins"
for p in postgresql mysql java-app; do
  install -d -m 0755 "$work/plugins/$p"
  install -m 0644 "plugins/$p/plugin.json" "$work/plugins/$p/"
  install -m 0755 "plugins/$p/collect" "$work/plugins/$p/"
done
chmod 0755 "$work" "$work/plugins"  # the collector worker runs as `rdiag` and must get in
cat > "$work/etc/agent.json" <<JSON
{ "state_dir": "$work/state", "engineers_file": "$work/etc/engineers",
  "control_socket": "$work/control.sock", "allow_from": ["127.0.0.0/8"],
  "plugins_dirs": ["$work/plugins"] }
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

console=("$rdiag" --data-dir "$work/console" --key "$work/engineer_ed25519")
admin=("$agent" --config "$work/etc/agent.json")

step "5. The engineer asks for a session and waits for the customer's approval" "5. 工程师申请会话并等待客户批准"
"${console[@]}" request acme-erp --ticket ERP-2026-1128 --reason "月结过账失败，需要诊断" \
  --scopes diagnose,shell --minutes 60 > "$work/request.out" 2> "$work/request.err" &
request_pid=$!
for _ in $(seq 1 100); do
  "${admin[@]}" --json requests 2>/dev/null | grep -q '"request_id"' && break; sleep 0.1
done

step "6. Customer IT sees the request and approves it, narrowed to diagnose for 30 minutes" "6. 客户 IT 查看请求并批准（缩小为 diagnose，30 分钟）"
"${admin[@]}" requests
request_id=$("${admin[@]}" --json requests | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"][0]["request_id"])')
"${admin[@]}" approve "$request_id" --scopes diagnose --minutes 30

step "7. The engineer's console stops waiting: the session is granted" "7. 工程师控制台结束等待：会话已获授权"
wait "$request_pid"; echo "rdiag request: exit status $?"
cat "$work/request.err" "$work/request.out"
"${console[@]}" session acme-erp
"${admin[@]}" sessions

step "8. The engineer diagnoses the server: findings first, then collectors and plugins" "8. 工程师诊断服务器：先列出发现的问题，再列出采集项与插件"
"${console[@]}" diag acme-erp

step "9. The engineer closes the session with cause and solution (the record is sealed)" "9. 工程师填写原因和解决办法并关闭会话（记录随即封存）"
"${console[@]}" close acme-erp --cause "归档日志占满磁盘，过账任务写入失败" \
  --solution "清理归档日志并调整保留策略" --outcome resolved

step "10. Stop the agent cleanly (SIGTERM)" "10. 正常停止代理（SIGTERM）"
kill -TERM "$agent_pid"; wait "$agent_pid"; echo "exit status: $?"
agent_pid=""
echo; echo "---- agent log ----"; cat "$work/agent.log"

step "11. Customer IT reads and verifies the service records" "11. 客户 IT 查看并校验服务记录"
"${admin[@]}" records list
"${admin[@]}" records verify --all
"${admin[@]}" records export --format csv
