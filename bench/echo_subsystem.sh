#!/bin/sh
# The rdiag-v1 subsystem for the OpenSSH baseline in bench/run.sh: answers every
# request line with a fixed JSON-RPC result until EOF, as a real subsystem
# process would (so held sessions keep a live process, like the agent's).
while IFS= read -r _line; do
  printf '%s\n' '{"jsonrpc":"2.0","id":1,"result":{"version":"0.1.0"}}'
done
